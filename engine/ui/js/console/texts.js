// The Texts panel: citizens' text conversations (SMS, the 110 web page) offered to this seat.
// A drawer beside the call screen, opened by the top bar's Texts button and opened by itself
// when a text is offered here: the line of waiting texts, this seat's conversations with their
// messages, Accept, a reply box (Enter sends) and Close. The engine is the truth: every text/*
// event on the live stream makes the panel read GET /api/texts again. Everything a citizen
// wrote goes into the page as text nodes (dom.h), never as HTML.

import { get, post, q } from '../api.js';
import { $, h, fill, clock } from '../dom.js';
import { toast } from '../toast.js';

const state = { me: null, waiting: [], mine: [], drafts: new Map(), open: false };
let reloadTimer = null;

export function start(me) {
  state.me = me;
  $('#btn-texts').addEventListener('click', () => show(!state.open));
  $('#texts-close').addEventListener('click', () => show(false));
  reload();
}

/** A text/* event from the live stream. */
export function onEvent(topic, e) {
  if (topic === 'text/offered' && e.seat_id === state.me.seat) {
    show(true);
    toast(`A text is offered to you (incident ${e.incident}).`, { title: 'Text' });
  }
  reloadSoon();
}

function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    reload();
  }, 100);
}

let generation = 0;

async function reload() {
  // readings can come back out of order: only the latest one started is drawn
  const mine = ++generation;
  try {
    const view = await get('/api/texts');
    if (mine !== generation) return;
    state.waiting = view.waiting;
    state.mine = view.mine;
  } catch (err) {
    toast(`Texts could not be read: ${err.message}`, { kind: 'error' });
    return;
  }
  render();
}

function show(open) {
  state.open = open;
  $('#texts-panel').hidden = !open;
  $('#btn-texts').setAttribute('aria-expanded', String(open));
}

// ---- drawing ------------------------------------------------------------------------------

function render() {
  // redrawing replaces the reply boxes: keep the caret where the call-taker is typing
  const typing = document.activeElement && document.activeElement.classList.contains('text-reply-input')
    ? document.activeElement.closest('[data-conversation]').dataset.conversation
    : null;
  const offered = state.mine.filter((c) => c.state === 'offered').length;
  $('#texts-count').textContent = String(state.waiting.length + state.mine.length);
  $('#btn-texts').classList.toggle('busy', offered > 0 || state.waiting.length > 0);
  const mineIds = new Set(state.mine.map((c) => c.id));
  const line = state.waiting.filter((c) => !mineIds.has(c.id));
  fill(
    $('#texts-line'),
    line.length
      ? line.map((c) =>
          h(
            'li',
            { class: 'text-waiting', dataset: { conversation: c.id } },
            h('span', { class: 'mono', text: c.incident }),
            h('span', { class: 'muted', text: `${c.channel} · ${Math.round(c.waiting_s)} s` }),
            h('span', { class: 'preview', text: (c.messages[0] || {}).text || '' }),
            h('button', { class: 'btn small', type: 'button', text: 'Take', onclick: () => act(c.id, 'accept') }),
          ),
        )
      : h('li', { class: 'empty', text: 'no texts waiting' }),
  );
  fill($('#texts-mine'), state.mine.length ? state.mine.map(conversation) : h('p', { class: 'empty', text: 'no texts at this seat' }));
  if (typing) focusReply(typing);
}

function focusReply(id) {
  const input = document.querySelector(`[data-conversation="${CSS.escape(id)}"] .text-reply-input`);
  if (input) input.focus();
}

function conversation(c) {
  const taken = c.state === 'taken';
  const input = h('input', {
    class: 'text-reply-input',
    maxlength: '4000',
    placeholder: 'Reply (Enter to send)',
    'aria-label': `reply to ${c.incident}`,
    value: state.drafts.get(c.id) || '',
    oninput: (ev) => state.drafts.set(c.id, ev.target.value),
  });
  const form = h(
    'form',
    { class: 'text-reply', autocomplete: 'off', onsubmit: (ev) => send(ev, c.id, input) },
    input,
    h('button', { class: 'btn small go', type: 'submit', text: 'Send' }),
  );
  return h(
    'article',
    { class: `text-conversation ${c.state}`, dataset: { conversation: c.id, state: c.state } },
    h(
      'header',
      {},
      h('b', { class: 'mono', text: c.incident }),
      h('span', { class: 'muted', text: ` ${c.channel}${c.address ? ` ${c.address}` : ''}` }),
      h('span', { class: 'chip', text: c.state === 'offered' ? `offered · ${Math.round(c.offer_left_s || 0)} s` : c.state }),
      c.state === 'offered'
        ? h('button', { class: 'btn small go text-accept', type: 'button', text: 'Accept', onclick: () => act(c.id, 'accept') })
        : null,
      // an offered text is accepted (read) before it can be closed: the engine says 409 too
      taken ? h('button', { class: 'btn small text-close', type: 'button', text: 'Close', onclick: () => act(c.id, 'close') }) : null,
    ),
    h(
      'ol',
      { class: 'text-messages' },
      c.messages.map((m) =>
        h(
          'li',
          { class: `text-message from-${m.from}`, dataset: { seq: String(m.seq) } },
          h('span', { class: 'mono muted', text: clock(m.at) }),
          h('span', { class: 'who', text: m.from === 'citizen' ? 'citizen' : m.actor || 'call-taker' }),
          h('span', { class: 'words', text: m.text }),
        ),
      ),
    ),
    taken ? form : null,
  );
}

// ---- actions ------------------------------------------------------------------------------

async function act(id, what) {
  try {
    await post(`/api/texts/${q(id)}/${what}`);
  } catch (err) {
    toast(err.message, { kind: 'error', title: what === 'accept' ? 'Not taken' : 'Not closed' });
  }
  reload();
}

async function send(ev, id, input) {
  ev.preventDefault();
  const text = input.value.trim();
  if (!text) return;
  input.disabled = true;
  try {
    const result = await post(`/api/texts/${q(id)}/messages`, { text });
    state.drafts.delete(id);
    if (!result.delivery.ok) toast(`Filed, but not delivered: ${result.delivery.detail}`, { kind: 'error', title: 'Reply' });
  } catch (err) {
    toast(err.message, { kind: 'error', title: 'Reply not sent' });
  } finally {
    input.disabled = false;
  }
  await reload();
  focusReply(id);
}
