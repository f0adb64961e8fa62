// The seat's state in the top bar, and going ready / not ready. A not-ready asked during a
// call is kept by the engine and applied after it (a call is never cut): the bar says so.
// Time in state is the engine's (`in_state_s`) when the seat view has it, else counted from
// when this page first saw the state.

import { post, q } from '../api.js';
import { $, h, fill, duration, STATE_LABEL } from '../dom.js';
import { kbd, openModal, closeModal } from '../keys.js';
import { toast, fail } from '../toast.js';
import { desk, changed } from './desk.js';

export const REASONS = ['break', 'meal', 'training', 'after-call work', 'technical problem'];

let firstSeen = { key: '', at: 0, base: 0 };
let lastState = '';

function stateKey(seat) {
  return `${seat.state}|${seat.since}|${seat.reason}`;
}

/** Seconds the seat has been in its state. */
function inState(seat) {
  const key = stateKey(seat);
  if (firstSeen.key !== key) {
    const engineSays = typeof seat.in_state_s === 'number' ? seat.in_state_s : 0;
    firstSeen = { key, at: Date.now(), base: engineSays };
  }
  return firstSeen.base + (Date.now() - firstSeen.at) / 1000;
}

export function renderSeat() {
  const seat = desk.seat;
  const box = $('#state');
  const state = seat ? seat.state : 'logged-out';
  box.dataset.state = state;
  $('#state-name').textContent = STATE_LABEL[state] || state;
  let reason = '';
  if (state === 'not-ready') reason = seat.reason || '';
  if (seat && seat.pending === 'pause') reason = '→ not ready after this call';
  if (seat && seat.pending === 'logout') reason = '→ log-out after this call';
  $('#state-reason').textContent = reason;
  $('#btn-ready').disabled = !seat || state === 'ready';
  if (lastState && lastState !== 'logged-out' && state === 'logged-out') {
    toast('This seat was signed out (by a supervisor). Alt+R signs you in again, ready.', { kind: 'error', title: 'Signed out', ms: 15000 });
  }
  lastState = state;
  $('#btn-not-ready').disabled = !seat || state === 'logged-out' || seat.pending === 'pause';
  tick();
}

/** Once a second: the time in state. */
export function tick() {
  const seat = desk.seat;
  $('#state-time').textContent = seat && seat.state !== 'logged-out' ? duration(inState(seat)) : '';
}

export async function goReady() {
  if (desk.seat && desk.seat.state === 'ready') {
    toast('You are ready: calls come to this seat.');
    return;
  }
  try {
    if (desk.seat && desk.seat.state === 'logged-out') {
      // a supervisor signed this seat out (the session goes on): sign in again first
      await post(`/api/seats/${q(desk.me.seat)}/login`, { agent: desk.me.user });
    }
    desk.seat = await post(`/api/seats/${q(desk.me.seat)}/ready`);
    changed('seat');
  } catch (err) {
    fail('Ready', err);
  }
}

export async function goNotReady(reason) {
  try {
    desk.seat = await post(`/api/seats/${q(desk.me.seat)}/not-ready`, { reason });
    changed('seat');
  } catch (err) {
    fail('Not ready', err);
  }
}

/** The reason picker: a digit picks at once; Esc keeps the seat as it is. */
export function pickReason() {
  const other = h('input', { id: 'reason-other', maxlength: '200', placeholder: 'another reason, then Enter' });
  const choose = (reason) => {
    closeModal();
    goNotReady(reason);
  };
  const buttons = REASONS.map((reason, i) =>
    h('button', { class: 'btn', type: 'button', 'data-reason': reason, onclick: () => choose(reason) }, kbd(String(i + 1)), ` ${reason}`),
  );
  other.addEventListener('keydown', (e) => {
    if (e.key === 'Enter' && other.value.trim()) {
      e.preventDefault();
      choose(other.value.trim());
    }
  });
  const card = h(
    'div',
    { class: 'card', id: 'reason-picker' },
    h('h2', { text: 'Not ready: why?' }),
    fill(h('div', { class: 'choices' }), buttons, other),
    h('div', { class: 'hint' }, 'Press 1–5, or type another reason. Esc cancels.'),
  );
  openModal(card, {
    onKey: (e) => {
      const n = Number(e.key);
      if (e.target !== other && n >= 1 && n <= REASONS.length) {
        choose(REASONS[n - 1]);
        return true;
      }
      return false;
    },
  });
}
