// The machinery: the pool of user agents, the Kamailio front, the trunks, the waiting calls and
// the alerts. Anything down is red and worded, not only coloured.

import { $, h, fill, clock, duration } from '../dom.js';

function row(key, value, good) {
  return [
    h('span', { class: 'k', text: key }),
    h('span', { class: `v ${good === true ? 'ok' : good === false ? 'bad' : ''}`, text: String(value) }),
  ];
}

export function renderHealth(board) {
  const pool = board.pool || {};
  const front = board.front || {};
  const ok = pool.status === 'ok';
  const pill = $('#health-pill');
  pill.dataset.ok = ok ? 'ok' : 'degraded';
  pill.textContent = ok ? 'engine ok' : 'engine DEGRADED';
  fill(
    $('#health'),
    row('Front (Kamailio)', front.up ? 'up' : 'DOWN', Boolean(front.up)),
    row('Front address', front.address || '—'),
    row('Front restarts', front.restarts ?? 0, (front.restarts ?? 0) === 0 ? undefined : false),
    row('Pool warm', pool.pool_warm ?? '—', pool.pool_warm > 0),
    row('Pool busy', pool.pool_busy ?? '—'),
    row('Engine up', pool.uptime_seconds !== undefined ? duration(pool.uptime_seconds) : '—'),
  );
  const trunks = board.trunks || [];
  fill(
    $('#trunks-body'),
    trunks.length
      ? trunks.map((t) => h('tr', {}, h('td', { text: t.name }), h('td', { class: 'num', text: String(t.offered) }), h('td', { class: 'num', text: String(t.answered) })))
      : h('tr', {}, h('td', { colspan: '3', class: 'empty', text: 'no calls on any trunk yet' })),
  );
}

export function renderQueue(queue) {
  fill(
    $('#queue-body'),
    queue.length
      ? queue.map((c) =>
          h(
            'tr',
            {},
            h('td', { class: 'mono', text: c.caller || 'withheld' }),
            h('td', { text: `${c.queue}${c.priority_reason ? ` · ${c.priority_reason}` : ''}` }),
            h('td', { class: 'num', text: duration(c.wait_seconds) }),
            h('td', { class: 'muted', text: (c.ringing || []).join(', ') || (c.announced ? 'announced' : '') }),
          ),
        )
      : h('tr', {}, h('td', { colspan: '4', class: 'empty', text: 'nobody waiting' })),
  );
}

export function renderAlerts(alerts) {
  const recent = [...alerts].reverse().slice(0, 12);
  fill(
    $('#alerts'),
    recent.length
      ? recent.map((a) => h('li', {}, h('span', { class: 't', text: clock(a.at) }), h('b', { text: a.kind }), a.message))
      : h('li', { class: 'empty', text: 'no alerts' }),
  );
}
