// The operations dashboard: service levels, seats, the city's live map and the health of the
// engine. The seats and the queue come with the stream's snapshot every second; the service
// levels and the health from GET /api/dashboard every two seconds; officers' positions every
// three; incidents live (opened) and re-read every ten for their status.

import { get, onSessionLost } from '../api.js';
import { $, fill, clock } from '../dom.js';
import { connect } from '../live.js';
import { logIn, logOut, whoAmI } from '../login.js';
import { cityMap, legend } from '../citymap.js';
import { toast } from '../toast.js';
import { renderSla, renderStatus, renderQueueTile } from './kpis.js';
import { renderSeats, allowActions } from './seats.js';
import { install } from '../keys.js';
import { renderHealth, renderQueue, renderAlerts } from './health.js';

let map = null;
let me = null;
const incidents = new Map(); // number -> incident (today's)
let officers = [];
let today = null; // the engine's counts of today's incidents: total, open, by_grid

async function start() {
  me = await whoAmI();
  if (!me) {
    me = await logIn($('#login'), {
      title: 'Operations dashboard',
      subtitle: '110 emergency call centre: supervisors and operations.',
    });
  }
  $('#user').textContent = me.user;
  $('#role').textContent = me.role;
  $('#app').hidden = false;
  allowActions(me.role);
  install();
  map = await cityMap($('#map'));
  if (map.ready) fill($('#map-legend'), legend(['available', 'dispatched', 'on-scene', 'unreachable', 'off-duty']));
  connect(onEvent, (state) => {
    const link = $('#link');
    link.dataset.live = state;
    link.textContent = { live: 'live', connecting: 'connecting…', down: 'disconnected' }[state];
  });
  await Promise.all([board(), loadOfficers(), loadIncidents()]);
  setInterval(board, 2000);
  setInterval(loadOfficers, 3000);
  setInterval(loadIncidents, 10000);
}

function onEvent(topic, e) {
  if (topic === 'snapshot') {
    renderStatus(e.status);
    renderSeats(e.seats || []);
    renderQueue(e.queue || []);
    renderQueueTile(e.queue || []);
  } else if (topic === 'incident/opened') {
    incidents.set(e.number, { number: e.number, location: e.location, status: 'open', grid: null, severity: 0 });
    drawIncidents();
  } else if (topic === 'incident/event') {
    const held = incidents.get(e.number);
    const status = { classified: 'classified', 'dispatch-started': 'dispatched', 'agency-bridged': 'transferred' }[e.kind];
    if (held && status) {
      held.status = status;
      if (e.kind === 'classified') Object.assign(held, { category: e.data.category, type: e.data.type, severity: e.data.severity });
      drawIncidents();
    }
  } else if (topic.startsWith('alert/')) {
    toast(e.message, { kind: 'error', title: `Alert: ${e.kind}` });
    board();
  } else if (topic === 'officer/status') {
    loadOfficers();
  }
}

async function board() {
  try {
    const data = await get('/api/dashboard');
    today = data.incidents_today || null;
    renderSla(data);
    renderHealth(data);
    renderAlerts(data.alerts || []);
  } catch (err) {
    if (err.status !== 401) $('#health-pill').textContent = `no data: ${err.message}`;
  }
}

async function loadOfficers() {
  try {
    officers = await get('/api/officers');
  } catch {
    return; // the next round tries again
  }
  map.setOfficers(officers);
  drawCounts();
}

/** Today's incidents (the city's midnight is close enough to this machine's). */
async function loadIncidents() {
  const midnight = new Date();
  midnight.setHours(0, 0, 0, 0);
  try {
    const page = await get(`/api/incidents?since=${Math.floor(midnight / 1000)}&limit=500`);
    incidents.clear();
    for (const i of page.items) incidents.set(i.number, i);
  } catch {
    return;
  }
  drawIncidents();
}

function drawIncidents() {
  const list = [...incidents.values()];
  map.setIncidents(list);
  // the heat comes from the engine's counts (every incident today); the markers are the
  // newest 500 with a location
  const heat = new Map(Object.entries((today && today.by_grid) || {}));
  if (!today) for (const i of list) if (i.grid) heat.set(i.grid, (heat.get(i.grid) || 0) + 1);
  map.setHeat(heat);
  drawCounts();
}

function drawCounts() {
  const open = today
    ? today.open
    : [...incidents.values()].filter((i) => i.status !== 'closed' && i.status !== 'transferred').length;
  const total = today ? today.total : incidents.size;
  const available = officers.filter((o) => o.status === 'available' && o.on_duty).length;
  const onDuty = officers.filter((o) => o.on_duty).length;
  const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
  $('#map-counts').textContent = `${plural(total, 'incident')} today (${open} open) · ${available} of ${plural(onDuty, 'officer')} on duty available`;
}

$('#btn-logout').addEventListener('click', async () => {
  await logOut();
  location.reload();
});

onSessionLost(() => location.reload());

setInterval(() => {
  $('#clock').textContent = clock(Date.now() / 1000);
}, 1000);
$('#clock').textContent = clock(Date.now() / 1000);

start().catch((err) => toast(`The dashboard could not start: ${err.message}`, { kind: 'error' }));
