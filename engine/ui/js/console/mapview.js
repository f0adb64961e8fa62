// The console's map: the city, the incident on screen, the officers (the ranked ones ringed,
// the one being called or bridged linked to the incident), zoomed to what matters to the call.
// Also where the call-taker places the caller: Alt+P, then a click on the map.

import { $, fill } from '../dom.js';
import { cityMap, legend } from '../citymap.js';
import { toast } from '../toast.js';
import * as desk from './desk.js';
import * as call from './call.js';

const d = desk.desk;
let map = null;
let picking = false;

export async function openMap() {
  if (map) return;
  map = await cityMap($('#map'), { onClick: (lat, lon) => picked(lat, lon) });
  if (map.ready) fill($('#map-legend'), legend(['available', 'dispatched', 'on-scene']));
}

let focusedOn = null;
export function renderMap() {
  if (!map || !map.ready) return;
  const place = desk.where();
  const number = desk.incidentNumber();
  const marks = new Map();
  const sent = d.call && d.call.dispatch;
  const links = [];
  for (const o of (sent && sent.ranked) || d.nearest) marks.set(o.officer_id, 'ranked');
  for (const a of (sent && sent.attempts) || []) {
    const kind = a.outcome === 'answered' ? 'bridged' : a.outcome ? '' : 'calling';
    if (kind) marks.set(a.target, kind);
  }
  map.setOfficers(d.officers, marks);
  if (place) {
    for (const o of d.officers) {
      const kind = marks.get(o.id);
      if ((kind === 'bridged' || kind === 'calling') && typeof o.lat === 'number') links.push({ lat: o.lat, lon: o.lon, kind });
    }
  }
  map.setIncidents(place && number ? [{ number, location: place, status: 'open', severity: (d.incident || {}).severity }] : [], number);
  map.setLinks(place, links);
  // the incident and the officers that matter to it, as close as they fit
  const near = d.officers.filter((o) => marks.has(o.id) && typeof o.lat === 'number');
  const key = place ? `${number}|${place.lat}|${place.lon}|${near.map((o) => o.id).join(',')}` : null;
  if (key && key !== focusedOn) {
    focusedOn = key;
    map.focusAll([[place.lat, place.lon], ...near.map((o) => [o.lat, o.lon])], 15);
  } else if (!key && focusedOn) {
    focusedOn = null;
    map.fit();
  }
}

// ---- the caller's position: typed, or picked on the map ----------------------------------

function picked(lat, lon) {
  if (!picking) return;
  stopPicking();
  call.setLocation(lat, lon);
}

export function stopPicking() {
  picking = false;
  if (map) map.picking(false);
}

export function locate() {
  const text = $('#location-input').value;
  if (text.trim()) {
    const place = call.parseLatLon(text);
    if (!place) {
      toast('Type the position as "lat, lon", e.g. 30.2512, 120.1534', { kind: 'error', title: 'Location' });
      return;
    }
    call.setLocation(place.lat, place.lon);
    return;
  }
  $('#location-input').focus(); // type it, or …
  if (!map || !map.ready) return;
  picking = true; // … click it on the map
  map.picking(true);
  toast('Type lat, lon and Enter, or click the map where the caller is (Esc cancels).');
}
