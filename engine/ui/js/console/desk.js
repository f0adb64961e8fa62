// What the console knows: the person and their seat, the call on screen, its incident and
// timeline, earlier calls from the number, the ranked officers. One object, changed only
// here; the panels redraw on the `changed(part)` notifications they care about.
//
// The call on screen follows the seat: the seat's call (the stream's ringing event, or any
// snapshot showing a call at this seat) replaces it; wrap-up and not-ready keep the last call
// on screen, so it can still be classified and noted after the caller hung up.

import { get, q } from '../api.js';
import { fail } from '../toast.js';

const RECENT_MAX = 30;

export const desk = {
  me: null, // {user, role, seat}
  seat: null, // GET /api/seats/{id} view, from the snapshots
  queue: [],
  callId: null,
  hint: null, // the ringing event's caller/location/incident, shown before the call loads
  call: null, // GET /api/calls/{id}
  incident: null, // GET /api/incidents/{number} (without events)
  events: [], // the incident's events, in order
  earlier: null, // earlier incidents from the caller's number
  nearest: [], // GET /api/dispatch/nearest for the incident's location
  officers: [], // GET /api/officers (the map)
  decision: null, // the last classification's answer
  recent: [], // this shift's calls at this seat
};

const listeners = [];

/** `f(part)` after a change; part: seat | call | incident | timeline | earlier | dispatch |
 * officers | decision | recent. */
export function onChange(f) {
  listeners.push(f);
}

export function changed(part) {
  for (const f of listeners) {
    try {
      f(part);
    } catch (err) {
      console.error(`redraw of ${part} failed`, err);
    }
  }
}

/** The incident's location, else the call's (the INVITE's PIDF-LO); null when unknown. */
export function where() {
  const typed = desk.incident && typeof desk.incident.location === 'object' ? desk.incident.location : null;
  if (typed && typeof typed.lat === 'number') return typed;
  const located = desk.call && desk.call.location;
  if (located && typeof located.lat === 'number') return located;
  const hinted = desk.hint && desk.hint.location;
  return hinted && typeof hinted.lat === 'number' ? hinted : null;
}

export function incidentNumber() {
  return (desk.incident && desk.incident.number) || (desk.call && desk.call.incident) || (desk.hint && desk.hint.incident) || null;
}

/** The call's phase as the call-taker sees it. */
export function phase() {
  if (!desk.callId) return 'idle';
  const call = desk.call;
  if (call && call.ended) return 'ended';
  if (call && call.conference && call.conference.call_taker_left) return 'left';
  if (call && call.answer_seconds !== null && call.answer_seconds !== undefined) {
    return call.seat_id === desk.me.seat || (call.conference && call.conference.rejoined_seat === desk.me.seat) ? 'talking' : 'elsewhere';
  }
  return 'ringing';
}

// ---- loading ---------------------------------------------------------------------------------

export function openCall(callId, hint = null) {
  if (!callId || callId === desk.callId) return;
  Object.assign(desk, { callId, hint, call: null, incident: null, events: [], earlier: null, nearest: [], decision: null });
  remember({ call_id: callId, caller: hint && hint.caller, incident: hint && hint.incident, at: Date.now() / 1000 });
  for (const part of ['call', 'incident', 'timeline', 'earlier', 'dispatch', 'decision']) changed(part);
  refreshCall();
}

/** The call went to another seat (it rang here too): off the screen and out of my calls. */
export function dropCall(callId) {
  if (callId !== desk.callId) return;
  Object.assign(desk, { callId: null, hint: null, call: null, incident: null, events: [], earlier: null, nearest: [], decision: null });
  desk.recent = desk.recent.filter((r) => r.call_id !== callId);
  saveRecent();
  for (const part of ['call', 'incident', 'timeline', 'earlier', 'dispatch', 'decision']) changed(part);
}

let refreshTimer = null;
let refreshing = false;

/** Reload the call's view soon (events come in bursts: one reload for a burst). */
export function refreshSoon() {
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => {
    refreshTimer = null;
    refreshCall();
  }, 120);
}

export async function refreshCall() {
  const callId = desk.callId;
  if (!callId || refreshing) {
    if (refreshing) refreshSoon();
    return;
  }
  refreshing = true;
  try {
    const call = await get(`/api/calls/${q(callId)}`);
    if (callId !== desk.callId) return; // the seat moved on meanwhile
    useCall(call);
  } catch (err) {
    if (err.status !== 404) fail('Loading the call', err);
  } finally {
    refreshing = false;
  }
}

/** A call view from any answer (GET, or a control's 202). */
export function useCall(call) {
  if (!call || call.call_id !== desk.callId) return;
  const hadLocation = where();
  desk.call = call;
  remember({ call_id: call.call_id, caller: call.caller, incident: call.incident, outcome: call.ended ? call.outcome || 'ended' : null });
  changed('call');
  changed('dispatch');
  if (call.incident && (!desk.incident || desk.incident.number !== call.incident) && loadingIncident !== call.incident) {
    loadIncident(call.incident);
  }
  if (!hadLocation && where()) loadNearest();
}

let loadingIncident = null;

export async function loadIncident(number) {
  const callId = desk.callId;
  loadingIncident = number;
  try {
    const incident = await get(`/api/incidents/${q(number)}`);
    if (desk.callId !== callId) return; // the seat moved on meanwhile
    const { events, ...rest } = incident;
    desk.incident = rest;
    desk.events = mergeEvents(desk.events, events || []);
    changed('incident');
    changed('timeline');
    loadEarlier();
    loadNearest();
  } catch (err) {
    fail('Loading the incident', err);
  } finally {
    loadingIncident = null;
  }
}

/** Events from the store and from the stream, in seq order, each once. */
function mergeEvents(held, more) {
  const bySeq = new Map(held.map((e) => [e.seq, e]));
  for (const e of more) bySeq.set(e.seq, e);
  return [...bySeq.values()].sort((a, b) => a.seq - b.seq);
}

export function addEvent(event) {
  desk.events = mergeEvents(desk.events, [event]);
  changed('timeline');
}

export async function loadEarlier() {
  const number = desk.incident && desk.incident.number;
  const caller = desk.incident && desk.incident.caller;
  if (!caller) {
    desk.earlier = [];
    changed('earlier');
    return;
  }
  try {
    const page = await get(`/api/incidents?caller=${q(caller)}&limit=8`);
    if (!desk.incident || desk.incident.number !== number) return;
    desk.earlier = { total: Math.max(0, page.total - 1), items: page.items.filter((i) => i.number !== number) };
  } catch (err) {
    desk.earlier = { error: err.message, items: [] };
  }
  changed('earlier');
}

export async function loadNearest() {
  const place = where();
  if (!place) {
    desk.nearest = [];
    changed('dispatch');
    return;
  }
  try {
    desk.nearest = await get(`/api/dispatch/nearest?lat=${place.lat}&lon=${place.lon}&limit=5`);
  } catch (err) {
    desk.nearest = [];
    fail('Ranking the officers', err);
  }
  changed('dispatch');
}

export async function loadOfficers() {
  try {
    desk.officers = await get('/api/officers');
    changed('officers');
  } catch {
    // the next round tries again; the map keeps the last positions
  }
}

// ---- this shift's calls (kept in the tab, gone at log-out) --------------------------------

function recentKey() {
  return `hotline110.recent.${desk.me.user}.${desk.me.seat}`;
}

export function loadRecent() {
  try {
    desk.recent = JSON.parse(sessionStorage.getItem(recentKey()) || '[]');
  } catch {
    desk.recent = [];
  }
  changed('recent');
}

function remember(entry) {
  const held = desk.recent.find((r) => r.call_id === entry.call_id);
  if (held) {
    for (const [k, v] of Object.entries(entry)) if (v !== null && v !== undefined && k !== 'at') held[k] = v;
  } else {
    desk.recent.unshift(entry);
    desk.recent.length = Math.min(desk.recent.length, RECENT_MAX);
  }
  saveRecent();
}

function saveRecent() {
  try {
    sessionStorage.setItem(recentKey(), JSON.stringify(desk.recent));
  } catch {
    // storage full or disabled: the list lives in memory only
  }
  changed('recent');
}

export function forgetShift() {
  try {
    sessionStorage.removeItem(recentKey());
  } catch {
    // nothing to forget
  }
}
