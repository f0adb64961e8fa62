// After a report: its incident number, and the written conversation with the call-taker who
// takes it. The page asks for new messages every 2 s (GET ...?since=<last seq>) with the
// conversation's token; the token stays in sessionStorage so a reload (or the phone dropping
// the tab) keeps the conversation, and is forgotten with "New report" or when it closes.

import { h, fill } from '../dom.js';
import { CitizenError, pause, request, setText } from './http.js';

const STORE_KEY = 'h110.report';
const POLL_MS = 2000;
const MAX_BACKOFF_MS = 15000;

const STATE_TEXT = {
  waiting: 'Waiting for a call-taker to read your report…',
  offered: 'A call-taker is opening your report…',
  taken: 'A call-taker is reading your report. You can write to them here.',
  closed: 'This conversation is closed. If you need help again, call 110 or send a new report.',
};

export function saveReport(report) {
  try {
    sessionStorage.setItem(STORE_KEY, JSON.stringify(report));
  } catch {
    // private mode or full: the conversation just does not survive a reload
  }
}

export function loadReport() {
  try {
    const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || 'null');
    return saved && typeof saved.number === 'string' ? saved : null;
  } catch {
    return null;
  }
}

export function forgetReport() {
  try {
    sessionStorage.removeItem(STORE_KEY);
  } catch {
    // nothing kept
  }
}

function timeText(at) {
  const when = typeof at === 'number' ? new Date(at * 1000) : new Date(at);
  if (Number.isNaN(when.getTime())) return '';
  return when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** The conversation of one report: {id, token}, shown in #conversation. */
export class Conversation {
  constructor(id, token) {
    this.id = id;
    this.token = token;
    this.since = 0;
    this.seen = new Set();
    this.state = '';
    this.stopper = new AbortController();
    this.root = document.getElementById('conversation');
    this.stateLine = document.getElementById('conv-state');
    this.list = document.getElementById('messages');
    this.form = document.getElementById('reply-form');
    this.reply = document.getElementById('reply');
    this.button = document.getElementById('btn-reply');
    this.error = document.getElementById('reply-error');
    this.onSubmit = (event) => {
      event.preventDefault();
      this.send();
    };
    this.form.addEventListener('submit', this.onSubmit);
    fill(this.list);
    this.root.hidden = false;
    this.root.dataset.state = '';
    this.showState('waiting');
    this.form.hidden = false;
  }

  get path() {
    return `/api/intake/conversations/${encodeURIComponent(this.id)}`;
  }

  showState(state) {
    this.state = state;
    this.root.dataset.state = state;
    setText(this.stateLine, STATE_TEXT[state] || `State: ${state}`);
    if (state === 'closed') {
      this.form.hidden = true;
    }
  }

  sayError(message) {
    setText(this.error, message);
    this.error.hidden = !message;
  }

  /** Show a message once. Only polled ones move `since`: a reply's own seq may be ahead of a
   * call-taker's message the page has not fetched yet. */
  add(message, polled = true) {
    const seq = Number(message.seq);
    if (!Number.isFinite(seq)) return;
    if (polled) this.since = Math.max(this.since, seq);
    if (this.seen.has(seq)) return;
    this.seen.add(seq);
    const mine = message.from === 'citizen';
    const item = h(
      'li',
      { class: `msg ${mine ? 'mine' : 'theirs'}`, dataset: { seq: String(seq), from: String(message.from || '') } },
      h('span', { class: 'who', text: mine ? 'You' : 'Call-taker' }),
      h('span', { class: 'when', text: timeText(message.at) }),
      h('p', { class: 'text', text: String(message.text ?? '') }),
    );
    // keep them in sequence even when a reply's 201 and a poll cross
    const after = [...this.list.children].find((li) => Number(li.dataset.seq) > seq);
    this.list.insertBefore(item, after || null);
    item.scrollIntoView({ block: 'nearest' });
  }

  /** Poll until closed, gone or stopped; network trouble backs off and keeps trying. */
  async run() {
    const signal = this.stopper.signal;
    let wait = POLL_MS;
    while (!signal.aborted) {
      try {
        const view = await request(`${this.path}?since=${this.since}`, { token: this.token });
        if (signal.aborted) return;
        for (const message of (view && view.messages) || []) this.add(message);
        if (view && view.state) this.showState(view.state);
        this.sayError('');
        wait = POLL_MS;
        if (this.state === 'closed') {
          forgetReport();
          return;
        }
      } catch (err) {
        if (err instanceof CitizenError && (err.status === 403 || err.status === 404 || err.status === 401)) {
          this.showState('closed');
          this.sayError('This conversation is no longer available. If you need help, call 110.');
          forgetReport();
          return;
        }
        this.sayError(`${err.message} Trying again…`);
        wait = Math.min(MAX_BACKOFF_MS, wait * 2);
      }
      if (await pause(wait, signal)) return;
    }
  }

  async send() {
    const text = this.reply.value.trim();
    if (!text) return;
    this.button.disabled = true;
    try {
      const answer = await request(`${this.path}/messages`, { method: 'POST', token: this.token, json: { text } });
      this.reply.value = '';
      this.sayError('');
      if (answer && answer.seq !== undefined) {
        this.add({ seq: answer.seq, from: 'citizen', text, at: Date.now() / 1000 }, false);
      }
    } catch (err) {
      this.sayError(`Not sent: ${err.message}`);
    } finally {
      this.button.disabled = false;
    }
  }

  stop() {
    this.stopper.abort();
    this.form.removeEventListener('submit', this.onSubmit);
    this.root.hidden = true;
  }
}
