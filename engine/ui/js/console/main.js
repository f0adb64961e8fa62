// The call-taker's seat console: log in at a seat, then everything on one screen, driven by
// the live stream (no reloads) and by the keyboard. This module wires the panels together:
// the stream's events into the desk, the desk's changes into the panels, and the keys.

import { onSessionLost } from '../api.js';
import { $, h, fill, clock } from '../dom.js';
import { connect } from '../live.js';
import { logIn, whoAmI } from '../login.js';
import { toast } from '../toast.js';
import * as desk from './desk.js';
import * as seat from './seat.js';
import * as call from './call.js';
import * as classify from './classify.js';
import * as dispatch from './dispatch.js';
import * as timeline from './timeline.js';
import * as media from './media.js';
import { openMap, renderMap } from './mapview.js';
import { wire } from './shortcuts.js';
import * as texts from './texts.js';

const d = desk.desk;
const PATCHING = new Set(['classified', 'location', 'dispatch-started', 'agency-bridged']);
let disconnect = null;

async function start() {
  let message = '';
  let me = await whoAmI();
  if (me && !me.seat) {
    message = `${me.user} is logged in without a seat: log in at your seat.`;
    me = null;
  }
  if (!me) {
    $('#app').hidden = true;
    me = await logIn($('#login'), {
      title: 'Seat console',
      subtitle: '110 emergency call centre: log in at your seat.',
      seat: true,
      message,
    });
  }
  d.me = me;
  $('#seat-id').textContent = me.seat;
  $('#agent').textContent = me.user;
  document.title = `110 · ${me.seat} · ${me.user}`;
  $('#app').hidden = false;
  desk.loadRecent();
  await openMap();
  for (const part of ['seat', 'call', 'earlier', 'dispatch', 'timeline', 'decision', 'recent']) desk.changed(part);
  desk.loadOfficers();
  texts.start(me);
  disconnect = connect(onEvent, (state) => {
    const link = $('#link');
    link.dataset.live = state;
    link.textContent = { live: 'live', connecting: 'connecting…', down: 'disconnected' }[state];
  });
}

// ---- the stream ----------------------------------------------------------------------------

function onEvent(topic, e) {
  if (topic.startsWith('text/')) return texts.onEvent(topic, e);
  const mine = e.seat_id === d.me.seat;
  const current = e.call_id && e.call_id === d.callId;
  if (topic === 'snapshot') {
    const view = (e.seats || []).find((s) => s.seat_id === d.me.seat) || null;
    d.seat = view;
    d.queue = e.queue || [];
    desk.changed('seat');
    if (view && view.call_id && view.call_id !== d.callId) desk.openCall(view.call_id);
    return;
  }
  if (topic === 'call/ringing' && mine) {
    desk.openCall(e.call_id, { caller: e.caller, location: e.location, incident: e.incident });
    return;
  }
  if (topic === 'call/answered' && current && !mine && !(d.call && d.call.answer_seconds !== null)) {
    toast(`The call that rang here was answered at ${e.seat_id}.`);
    desk.dropCall(e.call_id);
    return;
  }
  if (current && topic.startsWith('call/')) desk.refreshSoon();
  if (topic === 'incident/opened' && current) desk.loadIncident(e.number);
  if (topic === 'incident/event' && e.number === desk.incidentNumber()) {
    desk.addEvent(timeline.fromStream(e));
    // these change the record itself (classification, location, status): read it again
    if (PATCHING.has(e.kind)) desk.loadIncident(e.number);
    desk.refreshSoon();
  }
  if ((topic.startsWith('dispatch/') || topic.startsWith('agency/')) && current) desk.refreshSoon();
  if (topic.startsWith('alert/') && current) toast(e.message, { kind: 'error', title: `Alert: ${e.kind}` });
  if (topic === 'officer/status') officersSoon();
}

let officersTimer = null;
function officersSoon() {
  if (officersTimer) return;
  officersTimer = setTimeout(() => {
    officersTimer = null;
    desk.loadOfficers();
    if (!dispatchStarted()) desk.loadNearest();
  }, 500);
}

const dispatchStarted = () => Boolean(d.call && d.call.dispatch);

// ---- redraws ---------------------------------------------------------------------------

let lastCall = null;
desk.onChange((part) => {
  if (part === 'seat') {
    seat.renderSeat();
    renderQueue();
  }
  if (part === 'call' || part === 'incident') {
    if (d.callId !== lastCall) {
      lastCall = d.callId;
      classify.resetClassify();
    }
    call.renderCall();
    classify.renderClassify();
    renderMap();
    renderRecent();
    media.renderMedia();
  }
  if (part === 'earlier') call.renderEarlier();
  if (part === 'dispatch') {
    dispatch.renderDispatch();
    call.renderCall();
    renderMap();
  }
  if (part === 'timeline') {
    timeline.renderTimeline();
    media.renderMedia();
  }
  if (part === 'decision') classify.renderDecision();
  if (part === 'officers') renderMap();
  if (part === 'recent') renderRecent();
});

function renderQueue() {
  const waiting = d.queue.length;
  const oldest = waiting ? Math.max(...d.queue.map((c) => c.wait_seconds)) : 0;
  $('#queue-count').textContent = String(waiting);
  $('#queue-oldest').textContent = waiting ? `oldest ${Math.round(oldest)} s` : '';
  $('#queue-info').classList.toggle('busy', waiting > 0);
}

function renderRecent() {
  fill(
    $('#recent'),
    d.recent.length
      ? d.recent.map((r) =>
          h(
            'li',
            { class: r.call_id === d.callId ? 'current' : '' },
            h(
              'button',
              { type: 'button', title: 'show this call', onclick: () => reopen(r.call_id) },
              h('span', { class: 'mono muted', text: clock(r.at) }),
              h('span', { class: 'mono', text: `${r.incident || '—'}  ${r.caller || ''}` }),
              h('span', { class: 'muted', text: r.outcome || (r.call_id === d.callId ? 'on screen' : '') }),
            ),
          ),
        )
      : h('li', { class: 'empty', text: 'no calls yet' }),
  );
}

function reopen(callId) {
  if (callId === d.callId) return;
  desk.openCall(callId);
}

// ---- once a second -------------------------------------------------------------------------

setInterval(() => {
  $('#clock').textContent = clock(Date.now() / 1000);
  seat.tick();
  call.tickCall();
}, 1000);

// the officers' positions move (MQTT, REST): the map follows every 5 s
setInterval(() => {
  if (d.me) desk.loadOfficers();
}, 5000);

// a session that ended (idle time-out, engine restarted): log in again, then start clean
onSessionLost(async (message) => {
  if (!d.me) return;
  if (disconnect) disconnect();
  d.me = null;
  $('#app').hidden = true;
  await logIn($('#login'), { title: 'Seat console', subtitle: 'Log in again at your seat.', seat: true, message: `Your session ended (${message}).` });
  location.reload();
});

wire();
$('#clock').textContent = clock(Date.now() / 1000);
start().catch((err) => {
  document.body.append(h('div', { class: 'error-box', role: 'alert' }, `The console could not start: ${err.message}`));
});
