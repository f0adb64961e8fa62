// The written report: text, a call-back number, the position if shared, up to five pictures.
// Pictures are previewed before sending (drawn on a canvas: no blob: URL, the page's policy
// allows none) and a file that is not a JPEG, PNG or WebP by its first bytes is not even
// added, so the person does not lose the whole report to one wrong file. Everything else is
// the engine's call: its refusal (413, 415, 422, 429...) is shown in its own words and the
// form keeps what was typed.

import { h, fill } from '../dom.js';
import { CitizenError, request } from './http.js';

export const MAX_PICTURES = 5;
const THUMB_PX = 200;

/** 'jpeg' | 'png' | 'webp' from a file's first bytes, or null. */
export async function sniff(file) {
  let bytes;
  try {
    bytes = new Uint8Array(await file.slice(0, 12).arrayBuffer());
  } catch {
    return null;
  }
  const at = (offset, ...values) => values.every((v, i) => bytes[offset + i] === v);
  if (bytes.length >= 3 && at(0, 0xff, 0xd8, 0xff)) return 'jpeg';
  if (bytes.length >= 8 && at(0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return 'png';
  if (bytes.length >= 12 && at(0, 0x52, 0x49, 0x46, 0x46) && at(8, 0x57, 0x45, 0x42, 0x50)) return 'webp';
  return null;
}

/** A phone number as the engine takes it (digits, an optional +), '' for none, null if wrong. */
export function normalisePhone(raw) {
  const phone = String(raw || '').replace(/[\s\-().]/g, '');
  if (!phone) return '';
  return /^\+?\d{1,20}$/.test(phone) && phone.length <= 20 ? phone : null;
}

function sizeText(bytes) {
  return bytes < 1024 * 1024 ? `${Math.max(1, Math.round(bytes / 1024))} KB` : `${(bytes / 1048576).toFixed(1)} MB`;
}

async function thumbnail(file) {
  const canvas = h('canvas', { class: 'thumb-img', role: 'img', 'aria-label': file.name || 'picture' });
  try {
    const bitmap = await createImageBitmap(file, { resizeWidth: THUMB_PX, resizeQuality: 'medium' });
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    bitmap.close();
    return canvas;
  } catch {
    // the engine decides; say that this one could not be previewed here
    return h('div', { class: 'thumb-img none', text: 'No preview' });
  }
}

const REFUSED = {
  413: 'Too large',
  415: 'Not a picture we can take',
  422: 'A picture could not be read',
  429: 'Please wait',
};

/** What the person reads when the engine refused the report. */
export function refusalText(err) {
  if (!(err instanceof CitizenError)) return `The report could not be sent: ${err.message}`;
  const head = REFUSED[err.status];
  let text = head ? `${head}: ${err.message}` : err.message;
  if (err.status === 429 && err.retryAfter !== null) {
    text += ` (you can send again in ${Math.ceil(err.retryAfter)} s)`;
  }
  if (!/[.!?)]$/.test(text)) text += '.';
  if (err.status === 413 || err.status === 415 || err.status === 422) {
    text += ' Nothing was sent: remove that picture and send again.';
  }
  return text;
}

/**
 * The report form. `locator` gives the latest fix; `phoneInput` the shared call-back number;
 * `onSent(answer)` gets the engine's 201 answer.
 */
export class ReportForm {
  constructor({ locator, phoneInput, onSent }) {
    this.locator = locator;
    this.phoneInput = phoneInput;
    this.onSent = onSent;
    this.pictures = []; // {file, key}
    this.nextKey = 1;
    this.form = document.getElementById('report-form');
    this.text = document.getElementById('text');
    this.counter = document.getElementById('text-count');
    this.thumbs = document.getElementById('thumbs');
    this.count = document.getElementById('picture-count');
    this.error = document.getElementById('report-error');
    this.send = document.getElementById('btn-send');
    for (const id of ['camera-input', 'picture-input']) {
      const input = document.getElementById(id);
      input.addEventListener('change', () => {
        const files = [...input.files];
        input.value = ''; // the same file may be picked again after removing it
        this.add(files);
      });
    }
    this.text.addEventListener('input', () => this.showCount());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      this.submit();
    });
    this.showCount();
  }

  showCount() {
    this.counter.textContent = `${this.text.value.length} / 4000`;
  }

  say(message) {
    this.error.textContent = message;
    this.error.hidden = !message;
  }

  async add(files) {
    const refused = [];
    for (const file of files) {
      const kind = await sniff(file);
      if (kind === null) {
        refused.push(`${file.name} is not a JPEG, PNG or WebP picture, so it was not added`);
        continue;
      }
      if (this.pictures.length >= MAX_PICTURES) { // checked after the await: picks may overlap
        refused.push(`${file.name} was not added: at most ${MAX_PICTURES} pictures in one report`);
        continue;
      }
      const entry = { file, key: this.nextKey++ };
      this.pictures.push(entry);
      this.thumbs.append(await this.tile(entry));
    }
    this.showPictures();
    this.say(refused.join('. '));
  }

  async tile(entry) {
    const { file, key } = entry;
    const label = file.name || `picture ${key}`;
    return h(
      'li',
      { class: 'thumb', dataset: { key: String(key) } },
      await thumbnail(file),
      h('span', { class: 'thumb-name', text: `${label} · ${sizeText(file.size)}` }),
      h('button', {
        class: 'btn small remove',
        type: 'button',
        'aria-label': `Remove ${label}`,
        text: 'Remove',
        onclick: () => this.remove(key),
      }),
    );
  }

  remove(key) {
    this.pictures = this.pictures.filter((p) => p.key !== key);
    const tile = this.thumbs.querySelector(`li[data-key="${Number(key)}"]`);
    if (tile) tile.remove();
    this.showPictures();
    this.say('');
  }

  showPictures() {
    const n = this.pictures.length;
    this.count.textContent = n
      ? `${n} of ${MAX_PICTURES} pictures.`
      : `No pictures (up to ${MAX_PICTURES}: JPEG, PNG or WebP).`;
  }

  clear() {
    this.text.value = '';
    this.pictures = [];
    fill(this.thumbs);
    this.showPictures();
    this.showCount();
    this.say('');
  }

  async submit() {
    const text = this.text.value.trim();
    if (!text) {
      this.say('Write what happened first.');
      this.text.focus();
      return;
    }
    const phone = normalisePhone(this.phoneInput.value);
    if (phone === null) {
      this.say('The phone number should be digits only (a + in front is fine).');
      this.phoneInput.focus();
      return;
    }
    const form = new FormData();
    form.append('text', text);
    if (phone) form.append('phone', phone);
    const fix = this.locator.fix;
    if (fix) {
      form.append('lat', String(fix.lat));
      form.append('lon', String(fix.lon));
    }
    for (const { file } of this.pictures) form.append('picture', file, file.name || 'picture');
    this.say('');
    this.send.disabled = true;
    this.send.textContent = 'Sending…';
    this.form.setAttribute('aria-busy', 'true');
    try {
      const answer = await request('/api/intake/reports', { method: 'POST', form });
      this.clear();
      this.onSent(answer || {});
    } catch (err) {
      this.say(refusalText(err));
      this.error.scrollIntoView({ block: 'nearest' });
    } finally {
      this.send.disabled = false;
      this.send.textContent = 'Send report';
      this.form.removeAttribute('aria-busy');
    }
  }
}
