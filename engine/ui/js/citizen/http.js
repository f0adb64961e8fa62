// The citizen's requests to the engine. A citizen has no account: what proves that a
// conversation or a call is theirs is the secret token the engine gave when it began, sent
// back in the X-Citizen-Token header (never in the URL, so it is not in any access log).
// An error reply becomes a CitizenError with the engine's own words and, for 429/503, how
// long to wait (Retry-After), so the page can say why and try again by itself.

export class CitizenError extends Error {
  constructor(status, message, retryAfter = null) {
    super(message);
    this.status = status;
    this.retryAfter = retryAfter;
  }
}

const TIMEOUT_MS = 20000;

/** What the person reads for a refusal the engine gave no words for. */
const PLAIN = {
  400: 'The report was not accepted.',
  404: 'This conversation or call no longer exists.',
  413: 'That is too large to send.',
  415: 'That file is not a picture we can take (JPEG, PNG or WebP).',
  422: 'A picture could not be read.',
  429: 'Too many reports from here: wait a little and try again, or call 110.',
  503: 'All call-takers are busy.',
};

function retryAfter(response) {
  const raw = response.headers.get('Retry-After');
  if (raw === null) return null;
  const seconds = Number(raw);
  if (Number.isFinite(seconds)) return Math.max(0, seconds);
  const when = Date.parse(raw); // an HTTP date is allowed too
  return Number.isFinite(when) ? Math.max(0, (when - Date.now()) / 1000) : null;
}

/**
 * fetch with a bound on the wait; JSON (or nothing) back, or a CitizenError.
 * options: {method, token, json, form, keepalive}
 */
export async function request(path, { method = 'GET', token = '', json, form, keepalive = false } = {}) {
  const headers = { Accept: 'application/json' };
  if (token) headers['X-Citizen-Token'] = token;
  let body;
  if (json !== undefined) {
    headers['Content-Type'] = 'application/json';
    body = JSON.stringify(json);
  } else if (form !== undefined) {
    body = form; // the browser writes the multipart boundary itself
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), TIMEOUT_MS);
  let response;
  try {
    response = await fetch(path, {
      method, headers, body, keepalive, credentials: 'omit', cache: 'no-store', signal: controller.signal,
    });
  } catch (err) {
    const why = err.name === 'AbortError' ? 'no answer in time' : 'no connection';
    throw new CitizenError(0, `The police service cannot be reached (${why}). If you can, call 110.`);
  } finally {
    clearTimeout(timer);
  }
  let data = null;
  let text = '';
  try {
    text = await response.text();
  } catch {
    text = '';
  }
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const said = data && typeof data.error === 'string' && data.error ? data.error : '';
    const message = said || PLAIN[response.status] || `The service answered ${response.status}.`;
    throw new CitizenError(response.status, message, retryAfter(response));
  }
  return data;
}

/** Write `text` into `el` only when it changed: a live region re-read every 2 s is noise. */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** '1.2 km' / '850 m'. */
export function distanceText(metres) {
  if (typeof metres !== 'number' || !Number.isFinite(metres)) return '';
  return metres < 1000 ? `${Math.max(0, Math.round(metres / 10) * 10)} m` : `${(metres / 1000).toFixed(1)} km`;
}

/** 'about 3 min' / 'less than a minute'. */
export function etaText(seconds) {
  if (typeof seconds !== 'number' || !Number.isFinite(seconds)) return '';
  if (seconds < 60) return 'less than a minute';
  return `about ${Math.round(seconds / 60)} min`;
}

/** Sleep that a stop() can cut short: resolves true when it was cut short. */
export function pause(ms, signal) {
  return new Promise((resolve) => {
    if (signal && signal.aborted) {
      resolve(true);
      return;
    }
    const timer = setTimeout(() => {
      if (signal) signal.removeEventListener('abort', onAbort);
      resolve(false);
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      resolve(true);
    }
    if (signal) signal.addEventListener('abort', onAbort, { once: true });
  });
}
