// Small DOM and formatting helpers shared by the console and the dashboard.
// Everything that comes from the engine (callers' numbers, summaries, notes) goes into the page
// as text nodes, never as HTML: a caller controls some of it.

/** h('div', {class: 'x', onclick: f}, 'text', child) -> an element. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'text') el.textContent = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => [...root.querySelectorAll(selector)];

/** Replace an element's children. */
export function fill(el, ...children) {
  el.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

const pad = (n) => String(n).padStart(2, '0');

/** Epoch seconds -> 'HH:MM:SS' (local time of this machine). */
export function clock(epochSeconds) {
  if (epochSeconds === null || epochSeconds === undefined) return '—';
  const d = new Date(epochSeconds * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** Epoch seconds -> 'YYYY-MM-DD HH:MM'. */
export function dateTime(epochSeconds) {
  const d = new Date(epochSeconds * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** Seconds -> 'M:SS' or 'H:MM:SS'. */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(s / 3600);
  const rest = `${pad(Math.floor((s % 3600) / 60))}:${pad(s % 60)}`;
  return hours ? `${hours}:${rest}` : rest.replace(/^0/, '');
}

/** Metres -> '850 m' or '2.4 km'. */
export function distance(metres) {
  if (metres === null || metres === undefined) return '—';
  return metres < 1000 ? `${Math.round(metres)} m` : `${(metres / 1000).toFixed(1)} km`;
}

/** A share 0..1 -> '98.6 %' ('—' when nothing was counted). */
export function percent(share, digits = 1) {
  if (share === null || share === undefined) return '—';
  return `${(share * 100).toFixed(digits)} %`;
}

/** A location dict -> '30.25120, 120.15340'. */
export function latLon(location) {
  if (!location || typeof location.lat !== 'number') return null;
  return `${location.lat.toFixed(5)}, ${location.lon.toFixed(5)}`;
}

/** Seats' states as the people at them say it. */
export const STATE_LABEL = {
  'logged-out': 'Logged out',
  ready: 'Ready',
  reserved: 'Ringing',
  talking: 'Talking',
  'wrap-up': 'Wrap-up',
  'not-ready': 'Not ready',
};
