// Log-in for both screens. A call-taker logs in at a seat (the engine signs them in there, not
// ready); the seat and the name are remembered on this machine, never the password. The
// engine's answer is shown as it is worded: a wrong password, a locked name (429), a seat
// someone else is signed in at.

import { get, post } from './api.js';
import { h, fill } from './dom.js';

const REMEMBER = 'hotline110.login';

/** Who is logged in (GET /api/session), or null. */
export async function whoAmI() {
  try {
    return await get('/api/session');
  } catch (err) {
    if (err.status === 401) return null;
    throw err;
  }
}

function remembered() {
  try {
    return JSON.parse(localStorage.getItem(REMEMBER) || '{}');
  } catch {
    return {};
  }
}

/**
 * Show the log-in form in `root` and resolve with the session once logged in.
 * `seat`: ask for a seat (the console); `message`: why the form is shown (e.g. session ended).
 */
export function logIn(root, { title, subtitle, seat = false, message = '' }) {
  return new Promise((resolve) => {
    const last = remembered();
    const fromUrl = new URLSearchParams(location.search).get('seat');
    const error = h('div', { class: 'error-box', role: 'alert', id: 'login-error', hidden: !message }, message);
    const user = h('input', { id: 'login-user', name: 'user', autocomplete: 'username', required: true, value: last.user || '' });
    const password = h('input', { id: 'login-password', name: 'password', type: 'password', autocomplete: 'current-password', required: true });
    const seatInput = seat
      ? h('input', { id: 'login-seat', name: 'seat', required: true, value: fromUrl || last.seat || '', placeholder: 'seat1' })
      : null;
    const submit = h('button', { class: 'btn primary', type: 'submit', id: 'login-submit' }, 'Log in');
    const form = h(
      'form',
      { autocomplete: 'on', novalidate: true },
      h('h1', {}, h('span', { class: 'logo' }, '110'), title),
      h('p', { class: 'sub', text: subtitle }),
      h('div', { class: 'field' }, h('label', { for: 'login-user', text: 'User' }), user),
      h('div', { class: 'field' }, h('label', { for: 'login-password', text: 'Password' }), password),
      seatInput ? h('div', { class: 'field' }, h('label', { for: 'login-seat', text: 'Seat' }), seatInput) : null,
      submit,
      error,
    );
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const body = { user: user.value.trim(), password: password.value };
      if (seatInput) body.seat = seatInput.value.trim();
      if (!body.user || !body.password || (seatInput && !body.seat)) {
        fill(error, seatInput ? 'Give your user name, password and seat.' : 'Give your user name and password.');
        error.hidden = false;
        return;
      }
      submit.disabled = true;
      try {
        const session = await post('/api/session', body);
        localStorage.setItem(REMEMBER, JSON.stringify({ user: body.user, seat: body.seat || last.seat }));
        password.value = '';
        root.hidden = true;
        resolve(session);
      } catch (err) {
        fill(error, err.status === 429 ? `Locked: ${err.message}` : err.message);
        error.hidden = false;
        password.select();
      } finally {
        submit.disabled = false;
      }
    });
    fill(root, form);
    root.hidden = false;
    (user.value ? password : user).focus();
  });
}

export async function logOut() {
  try {
    await fetch('/api/session', { method: 'DELETE', credentials: 'same-origin' });
  } catch {
    // the engine is gone: the cookie dies with it
  }
}
