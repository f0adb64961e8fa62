// One-click dispatch: the nearest available officers for the incident's location, ranked by
// ETA with their distance, before anything is sent; Alt+D sends the ladder down that list,
// Alt+1..5 sends the officer of that row. Once sent, the ranked list and every attempt
// (dialling, ringing, no answer, bridged) come from the call's own view, live.

import { post, q } from '../api.js';
import { $, h, fill, distance, duration } from '../dom.js';
import { kbd } from '../keys.js';
import { toast, fail } from '../toast.js';
import { desk, phase, where, useCall } from './desk.js';

function dispatchOf() {
  return desk.call && desk.call.dispatch;
}

function ranked() {
  const d = dispatchOf();
  return (d && d.ranked && d.ranked.length ? d.ranked : desk.nearest).slice(0, 5);
}

function attemptOutcome(a) {
  return a.outcome || (a.ringing_s !== null ? 'ringing' : 'dialling');
}

export function renderDispatch() {
  const d = dispatchOf();
  const status = $('#dispatch-status');
  let outcome = 'none';
  let text = 'Not dispatched';
  if (d) {
    outcome = d.outcome;
    const last = d.attempts[d.attempts.length - 1];
    if (d.outcome === 'bridged') {
      text = `Bridged: ${d.bridged} at ${d.officer_bridged_s.toFixed(1)} s`;
      if (d.officer_left_s !== null) text = `${d.bridged} left at ${d.officer_left_s.toFixed(1)} s`;
    } else if (d.outcome === 'calling') text = last ? `Calling ${last.name}` : 'Calling';
    else if (d.outcome === 'exhausted') text = 'Nobody answered: tell the supervisor';
    else text = d.outcome;
  }
  status.dataset.outcome = outcome;
  status.textContent = text;
  const live = phase() === 'talking' || phase() === 'left';

  const busy = d && (d.outcome === 'calling' || (d.outcome === 'bridged' && d.officer_left_s === null));
  const canSend = live && !busy;
  $('#btn-dispatch').disabled = !canSend;
  const rows = ranked();
  const bridgedId = d && d.outcome === 'bridged' ? (d.attempts.find((a) => a.outcome === 'answered') || {}).target : null;
  fill(
    $('#ranked-body'),
    rows.length
      ? rows.map((o, i) =>
          h(
            'tr',
            { class: o.officer_id === bridgedId ? 'hl' : '', dataset: { officer: o.officer_id } },
            h('td', { class: 'mono', text: String(i + 1) }),
            h('td', {}, h('b', { text: o.name }), ' ', h('span', { class: 'faint mono', text: o.officer_id }), o.stale ? h('span', { class: 'stale', text: ' stale position' }) : null),
            h('td', { class: 'muted', text: o.unit }),
            h('td', { class: 'num', text: distance(o.distance_m) }),
            h('td', { class: 'num', text: duration(o.eta_s) }),
            h(
              'td',
              { class: 'num' },
              h('button', { class: 'btn small', type: 'button', disabled: !canSend, onclick: () => dispatchOfficer(o.officer_id) }, 'Send ', kbd(`Alt+${i + 1}`)),
            ),
          ),
        )
      : h('tr', {}, h('td', { colspan: '6', class: 'empty', text: where() ? 'no available officer near the incident' : 'the location is unknown: set it to rank the officers' })),
  );
  const attempts = d ? d.attempts : [];
  fill(
    $('#attempts-body'),
    attempts.length
      ? attempts.map((a) =>
          h(
            'tr',
            { class: a.outcome === 'answered' ? 'hl' : '' },
            h('td', { class: 'mono', text: String(a.step) }),
            h('td', {}, h('b', { text: a.name }), a.distance_m !== null ? ` · ${distance(a.distance_m)}` : ''),
            h('td', { class: 'muted', text: a.kind }),
            h('td', { class: 'num', text: a.started_s !== null ? `+${a.started_s.toFixed(1)} s` : '' }),
            h('td', { class: `outcome-${attemptOutcome(a)}`, text: attemptOutcome(a) + (a.reason ? ` (${a.reason})` : '') }),
          ),
        )
      : h('tr', {}, h('td', { colspan: '5', class: 'empty', text: 'none yet' })),
  );
}

async function send(body, label) {
  if (!(phase() === 'talking' || phase() === 'left')) {
    toast('Dispatch needs a call in progress at this seat.', { kind: 'error', title: label });
    return;
  }
  try {
    useCall(await post(`/api/calls/${q(desk.callId)}/dispatch`, body));
  } catch (err) {
    fail(label, err);
  }
}

/** To the incident's location (typed, else the INVITE's), the nearest first. */
export function dispatchNearest() {
  const place = where();
  return send(place ? { lat: place.lat, lon: place.lon } : {}, 'Dispatch');
}

export function dispatchOfficer(officerId) {
  return send({ officer: officerId }, `Dispatch ${officerId}`);
}

/** Alt+n: the n-th row of the ranked list. */
export function dispatchRow(n) {
  const o = ranked()[n - 1];
  if (!o) {
    toast(`No officer in row ${n}.`, { kind: 'error', title: 'Dispatch' });
    return;
  }
  dispatchOfficer(o.officer_id);
}
