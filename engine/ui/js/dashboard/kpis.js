// The service levels: the share of calls answered within 3 s (the last minutes and today),
// officers bridged within 30 s of the call (today), the queue, and the running totals. A tile
// turns amber below 99 % and red below 95 % (the target is every call), or when callers wait.

import { $, h, fill, percent } from '../dom.js';

function level(share) {
  if (share === null || share === undefined) return 'none';
  if (share >= 0.99) return 'good';
  return share >= 0.95 ? 'warn' : 'bad';
}

function sla(tile, value, sub, figures, noun) {
  $(tile).dataset.level = level(figures.share);
  $(value).textContent = percent(figures.share);
  $(sub).textContent = figures.total ? `${figures.met} of ${figures.total} ${noun}` : `no ${noun}`;
}

/** From GET /api/dashboard. */
export function renderSla(board) {
  const answer = board.answer_sla;
  const bridge = board.bridge_sla;
  $('#answer-target').textContent = String(answer.target_s);
  $('#live-minutes').textContent = String(answer.live_minutes);
  $('#bridge-target').textContent = String(bridge.target_s);
  sla('#kpi-answer-live', '#answer-live', '#answer-live-sub', answer.live, 'calls');
  sla('#kpi-answer-today', '#answer-today', '#answer-today-sub', answer.today, 'calls');
  sla('#kpi-bridge-today', '#bridge-today', '#bridge-today-sub', bridge.today, 'dispatches');
}

/** From the snapshot's queue (every second): a caller waiting 2 s is about to miss the 3 s. */
export function renderQueueTile(queue) {
  const waiting = queue.length;
  const oldest = waiting ? Math.max(...queue.map((c) => c.wait_seconds)) : 0;
  $('#kpi-queue').dataset.level = waiting === 0 ? 'good' : oldest >= 2 ? 'bad' : 'warn';
  $('#queue-waiting').textContent = String(waiting);
  $('#queue-oldest').textContent = waiting ? `oldest ${oldest.toFixed(1)} s` : 'nobody waiting';
}

/** From the snapshot's status figures (every second). */
export function renderStatus(status) {
  $('#calls-active').textContent = String(status.active);
  const ms = (v) => (v === null || v === undefined ? '—' : `${v} ms`);
  $('#answer-times').textContent = `answer p50 ${ms(status.p50_answer_ms)} · p99 ${ms(status.p99_answer_ms)}`;
  const rows = [
    ['offered', status.offered],
    ['answered', status.answered],
    ['within 3 s', status.within_3s],
    ['abandoned', status.abandoned],
    ['failed', status.failed],
    ['dispatched', status.dispatched],
    ['bridged', status.bridged],
    ['≤ 30 s', status.within_30s],
  ];
  fill($('#totals'), rows.map(([k, v]) => [h('span', { class: 'muted', text: k }), h('b', { text: String(v ?? '—') })]));
}
