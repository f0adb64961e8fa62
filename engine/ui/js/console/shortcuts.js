// The console's buttons and keys. Every action has both; the help overlay (`?`, Alt+K) is
// built from the same registry, so it lists exactly what the keys do.

import { $ } from '../dom.js';
import { bind, install, showHelp, closeModal, modalOpen } from '../keys.js';
import { logOut } from '../login.js';
import * as desk from './desk.js';
import * as seat from './seat.js';
import * as call from './call.js';
import * as classify from './classify.js';
import * as dispatch from './dispatch.js';
import * as timeline from './timeline.js';
import * as media from './media.js';
import { locate, stopPicking } from './mapview.js';

export function wire() {
  const on = (id, f) => $(id).addEventListener('click', f);
  on('#btn-ready', seat.goReady);
  on('#btn-not-ready', seat.pickReason);
  on('#btn-hold', call.toggleHold);
  on('#btn-mute', call.toggleMute);
  on('#btn-leave', call.leave);
  on('#btn-rejoin', call.rejoin);
  on('#btn-anti-fraud', () => call.toggleAgency('anti-fraud'));
  on('#btn-12345', () => call.toggleAgency('12345'));
  on('#btn-dispatch', dispatch.dispatchNearest);
  on('#btn-close', classify.closeIncident);
  on('#btn-locate', locate);
  on('#btn-snapshot', media.snapshot);
  on('#btn-help', help);
  on('#btn-logout', async () => {
    if (['talking', 'ringing'].includes(desk.phase()) && !confirm('A call is in progress. Log out anyway? (The call goes on.)')) return;
    desk.forgetShift();
    await logOut();
    location.reload();
  });
  $('#location-input').addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      locate();
    }
  });
  classify.setupClassify();
  timeline.setupNotes();

  bind('Alt+R', 'Ready (ends wrap-up)', seat.goReady, { group: 'Seat' });
  bind('Alt+N', 'Not ready, with a reason (then 1–5)', seat.pickReason, { group: 'Seat' });
  bind('Alt+H', 'Hold / resume the caller', call.toggleHold, { group: 'Call' });
  bind('Alt+M', 'Mute / unmute yourself', call.toggleMute, { group: 'Call' });
  bind('Alt+L', 'Leave the call (officer or desk stays with the caller)', call.leave, { group: 'Call' });
  bind('Alt+J', 'Rejoin the call', call.rejoin, { group: 'Call' });
  bind('Alt+P', 'Set the caller’s position (typed, or click the map)', locate, { group: 'Call' });
  bind('Alt+E', 'Write a note', () => $('#note').focus(), { group: 'Call' });
  bind('Alt+S', 'Send the video caller’s snapshot to the officer', media.snapshot, { group: 'Call' });
  bind('Alt+C', 'Classify: go to the category', classify.focusCategory, { group: 'Classify and dispatch' });
  bind('Ctrl+Enter', 'File the classification (routes the call)', classify.classify, { group: 'Classify and dispatch' });
  bind('Alt+D', 'Dispatch the nearest officer', dispatch.dispatchNearest, { group: 'Classify and dispatch' });
  bind('Alt+X', 'Close the incident (with the disposition typed)', classify.closeIncident, { group: 'Classify and dispatch' });
  for (let n = 1; n <= 5; n++) {
    bind(`Alt+${n}`, `Dispatch officer ${n} of the ranked list`, () => dispatch.dispatchRow(n), { group: 'Classify and dispatch', show: n === 1 });
  }
  bind('Alt+F', 'Anti-fraud desk: bridge in / withdraw', () => call.toggleAgency('anti-fraud'), { group: 'Agencies' });
  bind('Alt+T', '12345: transfer the caller / withdraw', () => call.toggleAgency('12345'), { group: 'Agencies' });
  bind('?', 'This help', help, { group: 'Screen' });
  bind('Alt+K', 'This help (also while typing)', help, { group: 'Screen' });
  bind('Escape', 'Close a dialog; stop picking on the map', () => stopPicking(), { group: 'Screen', fields: true });
  install();
}

function help() {
  if (modalOpen()) closeModal();
  else showHelp('Keyboard shortcuts · Alt+1…5 dispatch the officer in that row');
}
