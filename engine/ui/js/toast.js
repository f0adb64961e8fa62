// Messages to the person at the screen. Errors stay 10 s (long enough to read during a call)
// and until clicked away; the newest is at the bottom, at most five at once.

import { h } from './dom.js';

const MAX = 5;

function box() {
  let el = document.getElementById('toasts');
  if (!el) {
    el = h('div', { id: 'toasts', 'aria-live': 'assertive' });
    document.body.append(el);
  }
  return el;
}

export function toast(message, { kind = 'info', title = '', ms = 4000 } = {}) {
  const el = h(
    'div',
    { class: `toast ${kind}`, role: kind === 'error' ? 'alert' : 'status', title: 'click to close' },
    title ? h('b', { text: title }) : null,
    message,
  );
  el.addEventListener('click', () => el.remove());
  const container = box();
  container.append(el);
  while (container.children.length > MAX) container.firstElementChild.remove();
  setTimeout(() => el.remove(), kind === 'error' ? Math.max(ms, 10000) : ms);
  return el;
}

/** Show an ApiError (or any error) as the engine worded it. */
export function fail(what, err) {
  return toast(err && err.message ? err.message : String(err), { kind: 'error', title: what });
}
