// The REST API from the browser: JSON in and out, the session cookie sent by the browser
// itself (same origin, HttpOnly: this code never sees it). An error reply becomes an ApiError
// carrying the engine's own message, so the person sees why an action was refused.

export class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

const listeners = new Set();

/** `f()` is called when a request comes back 401: the session ended (log-out elsewhere,
 * idle time-out, engine restart). */
export function onSessionLost(f) {
  listeners.add(f);
}

export async function api(method, path, body) {
  const options = { method, headers: { Accept: 'application/json' }, credentials: 'same-origin' };
  if (body !== undefined) {
    options.headers['Content-Type'] = 'application/json';
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (err) {
    throw new ApiError(0, `the engine cannot be reached (${err.message})`);
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { error: text.slice(0, 200) };
    }
  }
  if (!response.ok) {
    const message = (data && data.error) || `${response.status} ${response.statusText}`;
    if (response.status === 401 && path !== '/api/session') listeners.forEach((f) => f(message));
    throw new ApiError(response.status, message);
  }
  return data;
}

export const get = (path) => api('GET', path);
export const post = (path, body = {}) => api('POST', path, body);
export const del = (path) => api('DELETE', path);

/** encodeURIComponent for path segments and query values. */
export const q = encodeURIComponent;
