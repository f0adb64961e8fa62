// The citizen's "110 app" page (GET /app): share the position, make a video call, or send a
// written report with pictures and then write with the call-taker. No account, no log-in:
// each conversation and call has a secret token of its own (see http.js).

import { Locator } from './location.js';
import { ReportForm } from './report.js';
import { Conversation, forgetReport, loadReport, saveReport } from './conversation.js';
import { VideoCall } from './call.js';

const PHONE_KEY = 'h110.phone';

const $ = (id) => document.getElementById(id);

function remember(key, value) {
  try {
    if (value) sessionStorage.setItem(key, value);
    else sessionStorage.removeItem(key);
  } catch {
    // private mode: nothing is kept over a reload
  }
}

function recall(key) {
  try {
    return sessionStorage.getItem(key) || '';
  } catch {
    return '';
  }
}

function positionText(fix) {
  const accuracy = fix.accuracy === null ? '' : ` · accurate to ${Math.round(fix.accuracy)} m`;
  return `${fix.lat.toFixed(5)}, ${fix.lon.toFixed(5)}${accuracy}`;
}

function whereText(answer) {
  const location = answer.location;
  if (location && typeof location === 'object' && typeof location.lat === 'number') {
    const how = { app: 'your shared location', exif: 'your photo' }[location.method] || 'the report';
    return `Location from ${how}: ${location.lat.toFixed(5)}, ${location.lon.toFixed(5)}.`;
  }
  return 'We do not know where you are: tell the call-taker, or share your location and call.';
}

function wireLocation(locator) {
  const button = $('btn-locate');
  const status = $('location-status');
  const position = $('position');
  locator.on((kind, value, isError) => {
    if (kind === 'fix') {
      position.textContent = positionText(value);
      position.hidden = false;
      button.textContent = 'Location shared';
      button.disabled = true;
      document.body.dataset.location = 'shared';
    } else if (kind === 'status') {
      status.textContent = value;
      status.classList.toggle('bad', Boolean(isError));
      if (!locator.watching) {
        button.disabled = false;
        button.textContent = 'Share my location';
      }
    }
  });
  button.addEventListener('click', () => {
    if (locator.start()) {
      button.disabled = true;
      button.textContent = 'Finding you…';
    }
  });
  if (Locator.wasSharing()) button.click();
}

function wireReport(locator, phone) {
  let conversation = null;

  const show = (report) => {
    $('report-form').hidden = true;
    $('sent').hidden = false;
    $('report-number').textContent = report.number;
    $('report-where').textContent = report.where || '';
    if (conversation) conversation.stop();
    conversation = null;
    const open = typeof report.conversation === 'string' && report.conversation && report.token;
    $('no-conversation').hidden = Boolean(open);
    if (open) {
      conversation = new Conversation(report.conversation, report.token);
      conversation.run();
    } else {
      $('conversation').hidden = true;
    }
    $('sent').scrollIntoView({ block: 'start' });
  };

  new ReportForm({
    locator,
    phoneInput: phone,
    onSent: (answer) => {
      const report = {
        number: String(answer.number || '—'),
        where: whereText(answer),
        // both are new in the engine: without them there is no conversation to show
        conversation: answer.conversation === undefined || answer.conversation === null ? '' : String(answer.conversation),
        token: typeof answer.token === 'string' ? answer.token : '',
      };
      saveReport(report);
      show(report);
    },
  });

  $('btn-new').addEventListener('click', () => {
    if (conversation) conversation.stop();
    conversation = null;
    forgetReport();
    $('sent').hidden = true;
    $('report-form').hidden = false;
    $('text').focus();
  });

  const saved = loadReport();
  if (saved) show(saved);
}

function main() {
  const phone = $('phone');
  phone.value = recall(PHONE_KEY);
  phone.addEventListener('change', () => remember(PHONE_KEY, phone.value.trim()));
  const locator = new Locator();
  wireLocation(locator);
  wireReport(locator, phone);
  new VideoCall({ locator, phoneInput: phone });
  document.body.dataset.ready = 'yes';
}

main();
