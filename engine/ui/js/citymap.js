// The city on a map, offline: Leaflet (from the npm package the engine serves) with no tile
// layer at all, since the machines have no internet. What is drawn comes from the engine:
// the grid cells and the stations' areas (GET /api/city, GeoJSON) as vector layers, then
// markers for incidents and officers. Without the Leaflet files (`make setup` not run) the
// map's place says so and every method below does nothing, so the screens still work.

import { get } from './api.js';
import { h } from './dom.js';

const LEAFLET = '/ui/vendor/leaflet';
const STATION_COLOURS = ['#2563eb', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777'];
export const OFFICER_COLOURS = {
  available: '#22c55e',
  dispatched: '#f97316',
  'on-scene': '#a855f7',
  unreachable: '#ef4444',
  'off-duty': '#64748b',
};

/** Tooltip content as text: Leaflet puts a string in as HTML, and a label may hold what a
 * person typed (an incident's type), so it is never parsed as markup. */
function plain(text) {
  const span = document.createElement('span');
  span.textContent = text;
  return span;
}

/** Legend entries: the incident diamond and the officers' statuses given. */
export function legend(statuses) {
  const dot = (colour) => {
    const i = h('i');
    i.style.background = colour;
    return i;
  };
  const diamond = h('i', { class: 'legend-incident' });
  return [
    h('span', {}, diamond, 'incident'),
    statuses.map((s) => h('span', {}, dot(OFFICER_COLOURS[s]), s)),
  ];
}

let leaflet = null;

function loadLeaflet() {
  if (!leaflet) {
    leaflet = import(`${LEAFLET}/leaflet-src.esm.js`).then(
      (L) =>
        new Promise((resolve) => {
          // Leaflet positions its panes with its own CSS: draw only once it is in
          const css = h('link', { rel: 'stylesheet', href: `${LEAFLET}/leaflet.css` });
          css.onload = css.onerror = () => resolve(L);
          document.head.append(css);
        }),
    );
  }
  return leaflet;
}

let city = null;
function loadCity() {
  if (!city) city = get('/api/city');
  return city;
}

/** A map in `container`; a CityMap that draws nothing when Leaflet is missing. */
export async function cityMap(container, options = {}) {
  let L;
  try {
    L = await loadLeaflet();
  } catch (err) {
    container.append(
      h('div', { class: 'map-missing', id: `${container.id}-missing`, title: String(err) },
        'map assets not installed: run make setup'),
    );
    return new CityMap(null, null, options);
  }
  const map = L.map(container, {
    attributionControl: false, // no tiles, nobody to credit; and no link out of the machine
    zoomSnap: 0.25,
    minZoom: 10,
    maxZoom: 18,
    preferCanvas: false, // SVG: markers are DOM nodes, styled by class (and testable)
  });
  const view = new CityMap(L, map, options);
  try {
    await view.drawCity(await loadCity());
  } catch (err) {
    container.append(h('div', { class: 'map-missing' }, `city map unavailable: ${err.message}`));
  }
  return view;
}

export class CityMap {
  constructor(L, map, { onClick } = {}) {
    this.L = L;
    this.map = map;
    this.officers = new Map(); // id -> circle marker
    this.incidents = new Map(); // number -> marker
    this.extras = null;
    if (!map) return;
    this.stationLayer = L.layerGroup().addTo(map);
    this.gridLayer = L.layerGroup().addTo(map);
    this.incidentLayer = L.layerGroup().addTo(map);
    this.officerLayer = L.layerGroup().addTo(map);
    this.extras = L.layerGroup().addTo(map);
    if (onClick) map.on('click', (e) => onClick(e.latlng.lat, e.latlng.lng));
    // The panel's size changes as the page fills in (and with the window): keep the view the
    // page asked for (the whole city, or the incident) unless the person moved the map.
    this.wanted = null;
    this.moved = false;
    map.on('dragstart', () => (this.moved = true));
    map.getContainer().addEventListener('wheel', () => (this.moved = true), { passive: true });
    new ResizeObserver(() => {
      map.invalidateSize();
      if (!this.moved) this.apply();
    }).observe(map.getContainer());
  }

  apply() {
    if (!this.wanted) return;
    if (this.wanted.bounds) this.map.fitBounds(this.wanted.bounds, { padding: [16, 16], maxZoom: this.wanted.maxZoom });
    else this.map.setView([this.wanted.lat, this.wanted.lon], this.wanted.zoom);
  }

  get ready() {
    return this.map !== null;
  }

  async drawCity(data) {
    const { L, map } = this;
    const colour = new Map();
    data.stations.features.forEach((f, i) => colour.set(f.properties.id, STATION_COLOURS[i % STATION_COLOURS.length]));
    L.geoJSON(data.stations, {
      interactive: false,
      style: (f) => ({ color: colour.get(f.properties.id), weight: 2, fillColor: colour.get(f.properties.id), fillOpacity: 0.1 }),
      onEachFeature: (f, layer) =>
        layer.bindTooltip(plain((f.properties.name || f.properties.id).replace(/ station$/i, '')), {
          permanent: true, direction: 'center', className: 'station-label',
        }),
    }).addTo(this.stationLayer);
    this.cells = new Map(); // cell id -> its polygon (the heat layer colours them)
    L.geoJSON(data.grid, {
      style: () => ({ color: '#3b4a66', weight: 0.6, fillColor: '#ef4444', fillOpacity: 0, opacity: 0.8 }),
      onEachFeature: (f, layer) => {
        layer.cellLabel = `${f.properties.id} · ${f.properties.station}`;
        this.cells.set(f.properties.id, layer);
        layer.bindTooltip(plain(layer.cellLabel), { sticky: true });
      },
    }).addTo(this.gridLayer);
    const [west, south, east, north] = data.extent;
    this.bounds = L.latLngBounds([south, west], [north, east]);
    map.setMaxBounds(this.bounds.pad(0.5));
    this.fit();
  }

  /** Show the whole city. */
  fit() {
    if (!this.map || !this.bounds) return;
    this.wanted = { bounds: this.bounds };
    this.moved = false;
    this.map.invalidateSize();
    this.apply();
  }

  /** Show these places ([[lat, lon], ...]: an incident and its officers) as close as fits. */
  focusAll(points, maxZoom = 15) {
    if (!this.map || !points.length) return;
    this.wanted = { bounds: this.L.latLngBounds(points), maxZoom };
    this.moved = false;
    this.map.invalidateSize();
    this.apply();
  }

  /** Show the place (an incident) close up. */
  focus(lat, lon, zoom = 15) {
    if (!this.map) return;
    this.wanted = { lat, lon, zoom };
    this.moved = false;
    this.map.invalidateSize();
    this.apply();
  }

  /** Officers as dots coloured by status; `marks` (id -> 'ranked'|'bridged'|'calling') rings
   * the ones that matter to the current call. */
  setOfficers(list, marks = new Map()) {
    if (!this.map) return;
    const seen = new Set();
    for (const o of list) {
      if (typeof o.lat !== 'number' || typeof o.lon !== 'number') continue;
      seen.add(o.id);
      const mark = marks.get(o.id) || '';
      const style = {
        radius: mark ? 8 : 5,
        color: mark === 'bridged' ? '#fde047' : mark ? '#e2e8f0' : '#0b1220',
        weight: mark ? 3 : 1,
        fillColor: OFFICER_COLOURS[o.status] || '#94a3b8',
        fillOpacity: o.stale ? 0.45 : 0.95,
        className: `officer-marker status-${o.status}${mark ? ` mark-${mark}` : ''}`,
      };
      const label = `${o.name} (${o.id}) · ${o.unit} · ${o.status}${o.stale ? ' · position stale' : ''}`;
      let marker = this.officers.get(o.id);
      if (!marker) {
        marker = this.L.circleMarker([o.lat, o.lon], style).addTo(this.officerLayer);
        marker.bindTooltip(plain(label));
        this.officers.set(o.id, marker);
      } else {
        marker.setLatLng([o.lat, o.lon]);
        marker.setStyle(style);
        marker.setTooltipContent(plain(label));
        // setStyle does not change an SVG path's class: keep the status readable in the DOM
        const path = marker.getElement();
        if (path) path.setAttribute('class', `${style.className} leaflet-interactive`);
      }
      if (mark) marker.bringToFront();
    }
    for (const [id, marker] of this.officers) {
      if (!seen.has(id)) {
        marker.remove();
        this.officers.delete(id);
      }
    }
  }

  /** Incidents as diamonds; the current one (`current`) larger. */
  setIncidents(list, current = null) {
    if (!this.map) return;
    const seen = new Set();
    for (const i of list) {
      const where = i.location;
      if (!where || typeof where.lat !== 'number') continue;
      seen.add(i.number);
      const cls = `incident-marker sev-${i.severity || 0} st-${i.status || 'open'}${i.number === current ? ' current' : ''}`;
      // Leaflet moves the icon with a transform: the diamond's rotation is on the inner <i>
      const icon = this.L.divIcon({ className: cls, html: '<i></i>', iconSize: i.number === current ? [20, 20] : [13, 13] });
      const label = `${i.number} · ${i.category || 'unclassified'}${i.type ? ` / ${i.type}` : ''} · ${i.status}`;
      let marker = this.incidents.get(i.number);
      if (!marker) {
        marker = this.L.marker([where.lat, where.lon], { icon, keyboard: false }).addTo(this.incidentLayer);
        marker.bindTooltip(plain(label));
        this.incidents.set(i.number, marker);
      } else {
        marker.setLatLng([where.lat, where.lon]);
        marker.setIcon(icon);
        marker.setTooltipContent(plain(label));
      }
    }
    for (const [number, marker] of this.incidents) {
      if (!seen.has(number)) {
        marker.remove();
        this.incidents.delete(number);
      }
    }
  }

  /** Lines from the incident to the officers being called or bridged. */
  setLinks(from, targets) {
    if (!this.map) return;
    this.extras.clearLayers();
    if (!from) return;
    for (const { lat, lon, kind } of targets) {
      this.L.polyline([[from.lat, from.lon], [lat, lon]], {
        color: kind === 'bridged' ? '#fde047' : '#94a3b8',
        weight: kind === 'bridged' ? 3 : 1.5,
        dashArray: kind === 'bridged' ? null : '4 4',
        interactive: false,
      }).addTo(this.extras);
    }
  }

  /** Incidents per grid cell as a heat layer (R14): the busiest cell darkest. */
  setHeat(counts) {
    if (!this.map || !this.cells) return;
    const top = Math.max(1, ...counts.values());
    for (const [id, layer] of this.cells) {
      const n = counts.get(id) || 0;
      layer.setStyle({ fillOpacity: n ? 0.12 + 0.43 * (n / top) : 0 });
      layer.setTooltipContent(plain(`${layer.cellLabel} · ${n} incident${n === 1 ? '' : 's'} today`));
    }
  }

  /** A crosshair cursor while the call-taker picks the caller's position. */
  picking(on) {
    if (this.map) this.map.getContainer().classList.toggle('picking', on);
  }
}
