// The screen pop (incident number, caller, location, earlier calls from the number) and the
// conference controls: hold the caller, mute oneself, leave once an officer or a desk is in
// the call, rejoin; the agency desks (the anti-fraud centre bridged in, the caller handed to
// 12345). Every control answers with the call's view, which redraws the panel; a refusal is
// shown as the engine worded it.

import { post, del, q } from '../api.js';
import { $, h, fill, dateTime, duration, latLon } from '../dom.js';
import { toast, fail } from '../toast.js';
import { desk, phase, where, incidentNumber, useCall, loadIncident, changed } from './desk.js';

const PHASE_LABEL = {
  idle: 'No call',
  ringing: 'Ringing',
  talking: 'Talking',
  left: 'You left · caller on with others',
  ended: 'Call ended',
  elsewhere: 'Answered at another seat',
};

const AGENCY = {
  'anti-fraud': { label: 'Anti-fraud desk', purpose: 'bridge', button: '#btn-anti-fraud' },
  12345: { label: '12345 transfer', purpose: 'transfer', button: '#btn-12345' },
};

export function renderCall() {
  const p = phase();
  const panel = $('#call-panel');
  panel.dataset.phase = p;
  $('#call-phase').textContent = PHASE_LABEL[p];
  $('#idle-note').hidden = p !== 'idle';
  $('#pop').hidden = p === 'idle';
  const call = desk.call || {};
  const hint = desk.hint || {};
  $('#incident-number').textContent = incidentNumber() || 'opening…';
  $('#caller-number').textContent = call.caller || hint.caller || (desk.incident && desk.incident.caller) || 'withheld';
  renderLocation();
  renderControls(p);
  tickCall();
}

function renderLocation() {
  const place = where();
  const incident = desk.incident || {};
  const call = desk.call || {};
  const parts = [];
  if (place) {
    parts.push(h('span', { class: 'mono', text: latLon(place) }));
    const area = [incident.grid && `cell ${incident.grid}`, incident.station, incident.county].filter(Boolean);
    if (area.length) parts.push(`  ·  ${area.join(' · ')}`);
  } else {
    parts.push(h('span', { class: 'err', text: 'unknown — ask the caller, type lat, lon below or pick it on the map' }));
  }
  const error = incident.location_error || call.location_error;
  if (error) parts.push(h('div', { class: 'err', text: `location problem: ${error}` }));
  fill($('#location-text'), parts);
  let source = '';
  if (place && place.method === 'typed') source = '(typed by the call-taker)';
  else if (place) source = `(${[place.source, place.method].filter(Boolean).join(' · ')}${place.radius_m ? ` · ±${Math.round(place.radius_m)} m` : ''})`;
  $('#location-source').textContent = source;
}

export function renderEarlier() {
  const list = $('#earlier-list');
  const count = $('#earlier-count');
  const earlier = desk.earlier;
  count.className = 'count';
  if (!earlier) {
    count.textContent = '…';
    fill(list);
    return;
  }
  if (earlier.error) {
    count.textContent = '?';
    fill(list, h('li', { class: 'faint', text: earlier.error }));
    return;
  }
  const items = earlier.items || [];
  count.textContent = String(earlier.total ?? items.length);
  const day = Date.now() / 1000 - 86400;
  if (items.some((i) => i.opened_at > day)) count.classList.add('repeat');
  fill(
    list,
    items.length
      ? items.slice(0, 5).map((i) =>
          h(
            'li',
            { title: i.summary || '' },
            h('span', { class: 'mono', text: dateTime(i.opened_at) }),
            h('span', { class: 'sum' }, h('b', { text: [i.category, i.type].filter(Boolean).join(' / ') || 'unclassified' }), ` ${i.summary || ''}`),
            h('span', { class: 'muted', text: i.status }),
          ),
        )
      : h('li', { class: 'faint', text: 'none' }),
  );
}

function activeLink(agency) {
  const links = (desk.call && desk.call.agencies) || [];
  return [...links].reverse().find((l) => l.agency === agency && l.ended === null) || null;
}

function officerIn(call) {
  const d = call && call.dispatch;
  return Boolean(d && d.bridged && d.officer_left_s === null);
}

function renderControls(p) {
  const call = desk.call;
  const live = p === 'talking' || p === 'left';
  const conf = (live && call && call.conference) || {}; // an ended call holds or mutes nobody
  const inCall = p === 'talking';
  const hold = $('#btn-hold');
  hold.disabled = !inCall;
  hold.classList.toggle('on', Boolean(conf.caller_held));
  hold.firstChild.textContent = conf.caller_held ? 'Resume ' : 'Hold ';
  const mute = $('#btn-mute');
  mute.disabled = !inCall;
  mute.classList.toggle('on', Boolean(conf.call_taker_muted));
  mute.firstChild.textContent = conf.call_taker_muted ? 'Unmute ' : 'Mute ';
  const someoneElse = officerIn(call) || ['anti-fraud', '12345'].some((a) => activeLink(a) && activeLink(a).bridged !== null);
  $('#btn-leave').disabled = !(inCall && someoneElse);
  $('#btn-rejoin').disabled = p !== 'left';
  for (const [agency, info] of Object.entries(AGENCY)) {
    const link = activeLink(agency);
    const button = $(info.button);
    button.disabled = !live;
    button.classList.toggle('on', Boolean(link));
    button.firstChild.textContent = link ? `Withdraw ${info.label.split(' ')[0]} ` : `${info.label} `;
  }
  const notes = [];
  if (conf.caller_held) notes.push(h('b', { text: 'Caller on hold' }));
  if (conf.call_taker_muted) notes.push(h('b', { text: 'You are muted' }));
  if (conf.call_taker_left) notes.push(h('b', { text: 'You left the call' }));
  if (conf.rejoined_seat) notes.push(`rejoined at ${conf.rejoined_seat}`);
  if (live && officerIn(call)) notes.push(h('b', { text: `Officer ${call.dispatch.bridged} in the call` }));
  for (const link of (live && call && call.agencies) || []) {
    const state = link.ended !== null ? link.outcome || 'ended' : link.bridged !== null ? 'in the call' : link.ringing !== null ? 'ringing' : 'dialling';
    const bad = link.ended !== null && link.bridged === null;
    notes.push(h('span', { class: bad ? 'bad' : '' }, `${AGENCY[link.agency] ? AGENCY[link.agency].label : link.agency}: ${state}`));
  }
  if (call && call.ended && call.reason) notes.push(`ended: ${call.reason}`);
  fill($('#conf-state'), notes.flatMap((n, i) => (i ? [' · ', n] : [n])));
}

/** Once a second: ringing time, talk time, or the call's length once ended. */
export function tickCall() {
  const call = desk.call;
  const el = $('#call-timer');
  if (!call || !desk.callId) {
    el.textContent = '';
    return;
  }
  const answeredAt = call.answer_seconds === null ? null : call.offered_wall + call.answer_seconds;
  const endedAt = call.timestamps && call.timestamps.ended !== null ? call.offered_wall + call.timestamps.ended : null;
  const now = Date.now() / 1000;
  if (answeredAt === null) el.textContent = `ringing ${duration(now - call.offered_wall)}`;
  else el.textContent = duration((endedAt ?? now) - answeredAt);
}

// ---- actions ---------------------------------------------------------------------------

function needCall(what) {
  if (phase() === 'talking' || phase() === 'left') return true;
  toast(`${what}: no call in progress at this seat.`, { kind: 'error', title: what });
  return false;
}

async function control(what, label) {
  if (!needCall(label)) return;
  try {
    useCall(await post(`/api/calls/${q(desk.callId)}/${what}`));
  } catch (err) {
    fail(label, err);
  }
}

export const toggleHold = () => control(desk.call && desk.call.conference.caller_held ? 'unhold' : 'hold', 'Hold');
export const toggleMute = () => control(desk.call && desk.call.conference.call_taker_muted ? 'unmute' : 'mute', 'Mute');
export const leave = () => control('leave', 'Leave');
export const rejoin = () => control('rejoin', 'Rejoin');

export async function toggleAgency(agency) {
  const info = AGENCY[agency];
  if (!needCall(info.label)) return;
  const path = `/api/calls/${q(desk.callId)}/agencies/${agency}`;
  try {
    useCall(activeLink(agency) ? await del(path) : await post(path, { purpose: info.purpose }));
  } catch (err) {
    fail(info.label, err);
  }
}

/** The caller's position typed ('30.25, 120.15') or picked on the map. */
export async function setLocation(lat, lon) {
  const number = incidentNumber();
  if (!number) {
    toast('No incident on screen yet.', { kind: 'error', title: 'Location' });
    return;
  }
  try {
    await post(`/api/incidents/${q(number)}/location`, { lat, lon });
    $('#location-input').value = '';
    toast(`Caller placed at ${lat.toFixed(5)}, ${lon.toFixed(5)}`, { kind: 'ok' });
    await loadIncident(number);
    changed('call');
  } catch (err) {
    fail('Location', err);
  }
}

export function parseLatLon(text) {
  const m = text.trim().match(/^(-?\d+(?:\.\d+)?)\s*[,\s]\s*(-?\d+(?:\.\d+)?)$/);
  if (!m) return null;
  const lat = Number(m[1]);
  const lon = Number(m[2]);
  return Math.abs(lat) <= 90 && Math.abs(lon) <= 180 ? { lat, lon } : null;
}
