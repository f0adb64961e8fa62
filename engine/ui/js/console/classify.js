// Classification: category, type, severity, summary (and for fraud the scammer's numbers and
// the accounts paid into). The engine's routing rules decide what follows and say why; a
// police matter on a live call is dispatched at once, so the answer shows the decision and
// whether the dispatch or the desk started. Ctrl+Enter files it from any field.

import { post, q } from '../api.js';
import { $, $$, h, fill } from '../dom.js';
import { toast } from '../toast.js';
import { desk, incidentNumber, changed, refreshSoon } from './desk.js';

const TYPES = {
  police: ['robbery', 'theft', 'burglary', 'assault', 'fight', 'domestic-violence', 'traffic-accident', 'missing-person', 'disturbance', 'drunk-driving'],
  fraud: ['telecom-fraud', 'online-fraud', 'phone-scam', 'investment-scam', 'impersonation-scam'],
  'non-police': ['noise-complaint', 'utility-outage', 'lost-property', 'neighbour-dispute', 'consumer-complaint'],
  unclear: ['other'],
};

const ROUTE_LABEL = {
  dispatch: 'Dispatch: nearest officer joins the call',
  'anti-fraud': 'Anti-fraud centre',
  12345: '12345 government service hotline',
  'local-station': 'Local station',
};

let touched = false; // the call-taker has typed: never overwrite with the stored values

const form = () => $('#classify-form');
const category = () => (form().querySelector('input[name="category"]:checked') || {}).value || '';

function list(text) {
  return text
    .split(/[\n,;]+/)
    .map((s) => s.trim())
    .filter(Boolean)
    .slice(0, 50);
}

function showFraud() {
  $('#fraud-fields').hidden = category() !== 'fraud';
  fill($('#types'), (TYPES[category()] || Object.values(TYPES).flat()).map((t) => h('option', { value: t })));
}

export function setupClassify() {
  const f = form();
  f.addEventListener('input', () => {
    touched = true;
    $('#classify-error').textContent = '';
  });
  f.addEventListener('change', showFraud);
  f.addEventListener('submit', (e) => {
    e.preventDefault();
    classify();
  });
  // Enter in the disposition closes the incident; it must not file the classification
  $('#disposition').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      closeIncident();
    }
  });
  showFraud();
}

/** A new call: an empty form. */
export function resetClassify() {
  form().reset();
  touched = false;
  $('#classify-error').textContent = '';
  $('#classified-as').textContent = '';
  showFraud();
  renderDecision();
}

/** The incident loaded: show what it was classified as (unless the call-taker is typing). */
export function renderClassify() {
  const incident = desk.incident;
  $('#btn-classify').disabled = !incidentNumber();
  $('#btn-close').disabled = !incidentNumber() || (incident && incident.status === 'closed');
  if (!incident) return;
  $('#classified-as').textContent = incident.category
    ? `filed: ${incident.category}${incident.type ? ` / ${incident.type}` : ''}${incident.severity ? ` · sev ${incident.severity}` : ''}`
    : 'not classified yet';
  if (touched || !incident.category) return;
  for (const radio of $$('input[name="category"]')) radio.checked = radio.value === incident.category;
  for (const radio of $$('input[name="severity"]')) radio.checked = Number(radio.value) === incident.severity;
  $('#type').value = incident.type || '';
  $('#summary').value = incident.summary || '';
  showFraud();
}

export function focusCategory() {
  const checked = form().querySelector('input[name="category"]:checked');
  (checked || form().querySelector('input[name="category"]')).focus();
}

export async function classify() {
  const number = incidentNumber();
  const error = $('#classify-error');
  if (!number) {
    error.textContent = 'No incident on screen yet.';
    return;
  }
  if (!category()) {
    error.textContent = 'Choose a category (Alt C, then the arrow keys).';
    focusCategory();
    return;
  }
  const severity = form().querySelector('input[name="severity"]:checked');
  const body = {
    category: category(),
    type: $('#type').value.trim(),
    severity: severity ? Number(severity.value) : 0,
    summary: $('#summary').value.trim(),
    numbers: category() === 'fraud' ? list($('#numbers').value) : [],
    accounts: category() === 'fraud' ? list($('#accounts').value) : [],
  };
  const button = $('#btn-classify');
  button.disabled = true;
  try {
    desk.decision = await post(`/api/incidents/${q(number)}/classify`, body);
    touched = false;
    error.textContent = '';
    changed('decision');
    toast(`Classified ${body.category}: ${desk.decision.decision.route}`, { kind: 'ok' });
    refreshSoon();
  } catch (err) {
    error.textContent = err.message;
  } finally {
    button.disabled = false;
  }
}

/** Close the incident on screen with the disposition typed (or picked from the list). */
export async function closeIncident() {
  const number = incidentNumber();
  const error = $('#classify-error');
  const disposition = $('#disposition').value.trim();
  if (!number) {
    error.textContent = 'No incident on screen yet.';
    return;
  }
  if (!disposition) {
    error.textContent = 'Say how it ended: type or pick a disposition, then Alt X again.';
    $('#disposition').focus();
    return;
  }
  try {
    await post(`/api/incidents/${q(number)}/close`, { disposition });
    error.textContent = '';
    $('#disposition').value = '';
    toast(`Incident ${number} closed: ${disposition}`, { kind: 'ok' });
    refreshSoon();
  } catch (err) {
    error.textContent = err.message;
  }
}

export function renderDecision() {
  const box = $('#decision');
  const result = desk.decision;
  if (!result) {
    box.hidden = true;
    return;
  }
  const d = result.decision || {};
  const steps = [];
  const also = (d.also || []).map((r) => ROUTE_LABEL[r] || r);
  if (result.dispatch) {
    steps.push(
      result.dispatch.started
        ? h('div', { class: 'step good', text: `Dispatch started (${result.dispatch.how}): the officers are being called.` })
        : h('div', { class: 'step bad', text: `Dispatch did not start: ${result.dispatch.error}. Dispatch by hand (Alt D).` }),
    );
  }
  if (result.agency) {
    const a = result.agency;
    steps.push(
      a.started
        ? h('div', { class: 'step good', text: `${a.agency} desk dialled (${a.purpose}).` })
        : h('div', { class: 'step bad', text: `${a.agency} desk not dialled: ${a.error}` }),
    );
  }
  fill(
    box,
    h('div', { class: 'route', id: 'decision-route', dataset: { route: d.route || '' } }, ROUTE_LABEL[d.route] || d.route || '?'),
    also.length ? h('div', { class: 'step', text: `also: ${also.join(', ')}` }) : null,
    h('div', { class: 'why' }, `rule ${d.rule || '?'}: ${d.explanation || ''}`),
    d.station ? h('div', { class: 'why', text: `station ${d.station}` }) : null,
    steps,
  );
  box.hidden = false;
}
