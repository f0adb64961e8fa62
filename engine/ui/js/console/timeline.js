// The incident's timeline: every stored event (who, what, when), live from the stream, in the
// incident's own order; and notes, filed before the engine answers. The newest is at the
// bottom and stays in view unless the call-taker has scrolled up to read.

import { post, q } from '../api.js';
import { $, h, fill, clock, latLon } from '../dom.js';
import { fail } from '../toast.js';
import { desk, incidentNumber, addEvent } from './desk.js';

/** A stream event (incident/event) as the store's event shape. */
export function fromStream(e) {
  return { number: e.number, seq: e.seq_in_incident, kind: e.kind, actor: e.actor, at: e.at, data: e.data || {} };
}

/** 'Huang Jun (O01)' for an officer's id, when the officer list has it. */
function officer(id) {
  const known = desk.officers.find((o) => o.id === id);
  return known ? `${known.name} (${id})` : id;
}

const short = (value) => (typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value));

/** [headline, detail] for an event. */
export function describe(e) {
  const d = e.data || {};
  switch (e.kind) {
    case 'opened':
      return ['Incident opened', [d.channel || d.source, d.caller && `caller ${d.caller}`, d.location && latLon(d.location)].filter(Boolean).join(' · ')];
    case 'announced':
      return ['Caller hears the queue announcement', ''];
    case 'answered':
      return [`Answered at ${d.seat}`, ''];
    case 'classified': {
      const dec = d.decision || {};
      const what = [d.category, d.type, d.severity ? `severity ${d.severity}` : ''].filter(Boolean).join(' / ');
      return [`Classified: ${what}`, `→ ${dec.route}${(dec.also || []).length ? ` + ${dec.also.join(', ')}` : ''} (rule ${dec.rule})${d.summary ? ` · “${d.summary}”` : ''}`];
    }
    case 'location':
      return ['Location set', [latLon(d.location || d), d.grid, d.station].filter(Boolean).join(' · ')];
    case 'note':
      return ['Note', d.text];
    case 'dispatch-requested':
      return ['Dispatch requested', d.officer ? `officer ${d.officer}` : d.how || 'nearest'];
    case 'dispatch-started':
      return [`Dispatch started (${d.how})`, (d.targets || []).join(', ')];
    case 'dispatch-attempt':
      return [`Step ${d.step}: ${d.target}`, `${d.kind} · ${d.outcome}${d.status ? ` ${d.status}` : ''}${d.reason ? ` (${d.reason})` : ''}`];
    case 'dispatch-bridged':
      return [`OFFICER BRIDGED: ${officer(d.target)}`, `${Number(d.seconds).toFixed(1)} s after the call came in`];
    case 'dispatch-officer-left':
      return [`Officer left: ${officer(d.target)}`, d.reason || ''];
    case 'call-taker-left':
      return ['Call-taker left the call', 'caller talks on with the officer or desk'];
    case 'call-taker-rejoined':
      return ['Call-taker rejoined', ''];
    case 'call-taker-lost':
      return [`Seat ${d.seat} lost`, d.reason || ''];
    case 'call-ended':
      return ['Call ended', [d.ended_by && `by ${d.ended_by}`, d.reason].filter(Boolean).join(' · ')];
    case 'anti-fraud-push':
      return ['Sent to the anti-fraud centre', [(d.numbers || []).length && `numbers ${d.numbers.join(', ')}`, (d.accounts || []).length && `accounts ${d.accounts.join(', ')}`].filter(Boolean).join(' · ')];
    case 'recording':
      return ['Recording filed', `${Math.round(d.seconds || 0)} s · ${d.size} bytes · sha256 ${String(d.sha256 || '').slice(0, 12)}…`];
    case 'ticket-12345':
      return ['12345 ticket filed', ''];
    case 'receipt':
      return [`Receipt from ${d.agency}`, d.receipt];
    case 'closed':
      return ['Incident closed', d.disposition || ''];
    case 'hold':
    case 'unhold':
    case 'mute':
    case 'unmute':
    case 'leave':
    case 'rejoin':
      return [{ hold: 'Caller put on hold', unhold: 'Caller resumed', mute: 'Call-taker muted', unmute: 'Call-taker unmuted', leave: 'Leave requested', rejoin: 'Rejoin requested' }[e.kind], ''];
    default:
      if (e.kind.startsWith('agency-')) {
        return [`${d.agency} desk: ${e.kind.slice(7)}`, [d.purpose, d.outcome, d.reason].filter(Boolean).join(' · ')];
      }
      if (e.kind.startsWith('alert-')) return [`ALERT ${d.kind || e.kind.slice(6)}`, d.message || ''];
      if (e.kind.startsWith('text-')) {
        // a citizen's text conversation (texts.js): who wrote what, taken, delivered, closed
        return [`Text ${e.kind.slice(5)}${d.from ? ` (${d.from})` : ''}`, d.text || d.detail || d.seat || ''];
      }
      return [
        e.kind,
        Object.entries(d)
          .filter(([k]) => !['call_id', 'number'].includes(k))
          .map(([k, v]) => `${k}: ${short(v)}`)
          .join(' · ')
          .slice(0, 300),
      ];
  }
}

export function renderTimeline() {
  const list = $('#timeline');
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 30;
  fill(
    list,
    desk.events.length
      ? desk.events.map((e) => {
          const [what, detail] = describe(e);
          return h(
            'li',
            { class: `k-${e.kind}`, dataset: { kind: e.kind, seq: e.seq } },
            h('span', { class: 't', text: clock(e.at) }),
            h('span', { class: 'what' }, what, h('span', { class: 'who', text: e.actor })),
            detail ? h('span', { class: 'detail', text: detail }) : null,
          );
        })
      : h('li', { class: 'empty', text: desk.callId ? 'waiting for the incident…' : 'no incident on screen' }),
  );
  $('#timeline-count').textContent = desk.events.length ? `${desk.events.length} events` : '';
  if (atBottom) list.scrollTop = list.scrollHeight;
}

export function setupNotes() {
  const form = $('#note-form');
  const input = $('#note');
  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    const text = input.value.trim();
    const number = incidentNumber();
    if (!text) return;
    if (!number) {
      fail('Note', new Error('no incident on screen'));
      return;
    }
    input.disabled = true;
    try {
      addEvent(await post(`/api/incidents/${q(number)}/notes`, { text }));
      input.value = '';
    } catch (err) {
      fail('Note', err);
    } finally {
      input.disabled = false;
      input.focus();
    }
  });
}
