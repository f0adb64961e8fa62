// Seats by state: a bar of the shares, the counts, and a tile for every seat (who, what, how
// long), so a supervisor sees at a glance a seat stuck ringing or not ready for too long.

import { post, q } from '../api.js';
import { $, h, fill, duration, STATE_LABEL } from '../dom.js';
import { openModal, closeModal } from '../keys.js';
import { toast, fail } from '../toast.js';

const ORDER = ['ready', 'reserved', 'talking', 'wrap-up', 'not-ready', 'logged-out'];
const COLOUR = {
  ready: 'var(--ready)',
  reserved: 'var(--reserved)',
  talking: 'var(--talking)',
  'wrap-up': 'var(--wrap-up)',
  'not-ready': 'var(--not-ready)',
  'logged-out': 'var(--logged-out)',
};

let supervisor = false;
let latest = new Map();

/** Supervisors (and admins) may force a seat not ready or log it out from its tile. */
export function allowActions(role) {
  supervisor = role === 'supervisor' || role === 'admin';
  $('#seat-tiles').addEventListener('click', (e) => {
    const tile = e.target.closest('.tile');
    if (tile) seatCard(tile.dataset.seat);
  });
}

async function force(seatId, what) {
  closeModal();
  const body = what === 'not-ready' ? { reason: 'supervisor' } : {};
  try {
    await post(`/api/supervisor/seats/${q(seatId)}/${what}`, body);
    const done = what === 'not-ready' ? 'not ready' : 'logged out';
    toast(`${seatId}: ${done} (a call in progress goes on to its end first)`, { kind: 'ok' });
  } catch (err) {
    fail(seatId, err);
  }
}

/** A seat's details; a call in progress is never cut, the change waits for its end. */
function seatCard(seatId) {
  const seat = latest.get(seatId);
  if (!seat) return;
  const rows = [
    ['Agent', seat.agent_id || 'nobody'],
    ['State', `${STATE_LABEL[seat.state]}${seat.reason ? ` (${seat.reason})` : ''}${seat.pending ? ` · then ${seat.pending}` : ''}`],
    ['Call', seat.call_id || '—'],
    ['Answered / missed', `${seat.answered} / ${seat.missed}`],
    ['Handle time', seat.handle_time_seconds !== null && seat.handle_time_seconds !== undefined ? `${seat.handle_time_seconds} s` : '—'],
    ['Queues', (seat.queues || []).join(', ') || '—'],
  ];
  const live = seat.state !== 'logged-out';
  openModal(
    h(
      'div',
      { class: 'card', id: 'seat-card' },
      h('h2', { text: `Seat ${seat.seat_id}` }),
      h('div', { class: 'health-rows' }, rows.map(([k, v]) => [h('span', { class: 'k', text: k }), h('span', { class: 'v', text: v })])),
      supervisor
        ? h(
            'div',
            { class: 'control-row' },
            h('button', { class: 'btn', type: 'button', disabled: !live || seat.state === 'not-ready', onclick: () => force(seat.seat_id, 'not-ready') }, 'Force not ready'),
            h('button', { class: 'btn danger', type: 'button', disabled: !live, onclick: () => force(seat.seat_id, 'logout') }, 'Force log out'),
          )
        : null,
      h('div', { class: 'hint', text: 'A call in progress is never cut: the change waits for its end. Esc closes.' }),
    ),
  );
}

export function renderSeats(seats) {
  latest = new Map(seats.map((s) => [s.seat_id, s]));
  const counts = Object.fromEntries(ORDER.map((s) => [s, 0]));
  for (const seat of seats) counts[seat.state] = (counts[seat.state] || 0) + 1;
  const total = seats.length || 1;
  const staffed = seats.length - counts['logged-out'];
  $('#seats-staffed').textContent = `${staffed} staffed of ${seats.length}`;
  fill(
    $('#state-bar'),
    ORDER.filter((s) => counts[s]).map((s) => {
      const span = h('span', { title: `${STATE_LABEL[s]}: ${counts[s]}` });
      span.style.width = `${(100 * counts[s]) / total}%`;
      span.style.background = COLOUR[s];
      return span;
    }),
  );
  fill(
    $('#state-counts'),
    ORDER.map((s) =>
      h('tr', { 'data-state': s, id: `count-${s}` }, h('td', {}, h('span', { class: 'state-chip', 'data-state': s, text: STATE_LABEL[s] })), h('td', { class: 'num', text: String(counts[s]) })),
    ),
  );
  fill(
    $('#seat-tiles'),
    seats.map((seat) => {
      const seconds = seat.seconds_in_state ? seat.seconds_in_state[seat.state] : null;
      const detail = seat.state === 'not-ready' ? seat.reason || 'not ready' : seat.agent_id || '';
      return h(
        'div',
        {
          class: 'tile',
          'data-state': seat.state,
          'data-seat': seat.seat_id,
          title: `${seat.seat_id} · ${seat.agent_id || 'nobody'} · ${STATE_LABEL[seat.state]}${seat.reason ? ` (${seat.reason})` : ''} · answered ${seat.answered}, missed ${seat.missed}${seconds !== null && seconds !== undefined ? ` · ${duration(seconds)} in this state today` : ''}`,
        },
        h('b', { text: seat.seat_id }),
        h('span', { text: detail || '—' }),
      );
    }),
  );
}
