// The video call: the phone's back camera and microphone to a call-taker over WebRTC.
//
// Theory of operation. One offer, not trickled: the page gathers its ICE candidates first
// (bounded at 3 s; on loopback and a LAN the host candidates are there at once) and POSTs
// the whole offer to /api/intake/calls. The engine answers with its SDP and a call id plus a
// secret token; 503 (the centre is full) and 429 (too many calls from here) carry Retry-After
// and the page tries again by itself, saying so. Audio goes both ways; video only from the
// citizen. Then the page asks for the call's state every 2 s (queued, ringing, answered,
// ended) with the dispatched officer's distance and ETA, sends new positions (throttled),
// and hangs up with DELETE. A failed or closed connection, or the engine saying "ended",
// ends the call on this side too.
//
// Test hook: document.body.dataset.call is the call's state ('idle', 'starting',
// 'connecting', 'busy', then the engine's 'queued' | 'ringing' | 'answered', and 'ended');
// #eta holds the officer line, #incident-number the incident.

import { CitizenError, distanceText, etaText, pause, request, setText } from './http.js';
import { Throttle } from './location.js';
import { normalisePhone } from './report.js';

const ICE_WAIT_MS = 3000;
const POLL_MS = 2000;
const MAX_NETWORK_TRIES = 3;

const STATE_TEXT = {
  starting: 'Starting your camera and microphone…',
  connecting: 'Connecting to a call-taker…',
  queued: 'Connecting to a call-taker… Please stay on the line.',
  ringing: 'Connecting to a call-taker…',
  answered: 'Call-taker on the line',
  ended: 'Call ended',
};

/** Resolves when ICE gathering is complete, or after `ms` with what has been gathered. */
export function gathered(pc, ms = ICE_WAIT_MS) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve(true);
  return new Promise((resolve) => {
    const done = (complete) => {
      clearTimeout(timer);
      pc.removeEventListener('icegatheringstatechange', check);
      resolve(complete);
    };
    const check = () => {
      if (pc.iceGatheringState === 'complete') done(true);
    };
    const timer = setTimeout(() => done(false), ms);
    pc.addEventListener('icegatheringstatechange', check);
  });
}

/** The officer line: 'Officer on the way: 1.2 km, about 3 min'. */
export function officerText(officer) {
  if (!officer || typeof officer !== 'object') return '';
  if (officer.status === 'on-scene') return 'The officer has arrived';
  if (officer.status === 'calling') return 'Calling the nearest officer…';
  const parts = [distanceText(officer.distance_m), etaText(officer.eta_s)].filter(Boolean);
  return parts.length ? `Officer on the way: ${parts.join(', ')}` : 'Officer on the way';
}

async function camera() {
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) {
    throw new Error('This browser cannot make calls from this page (a secure https page is needed). Please call 110.');
  }
  try {
    return await media.getUserMedia({ audio: true, video: { facingMode: 'environment' } });
  } catch (first) {
    try {
      return await media.getUserMedia({ audio: true }); // no camera (or not allowed): voice only
    } catch (err) {
      const denied = err.name === 'NotAllowedError' || err.name === 'SecurityError';
      throw new Error(
        denied
          ? 'The microphone was not allowed. Allow it for this page in the browser settings, or call 110.'
          : `The microphone cannot be used (${err.name || first.name}). Please call 110.`,
      );
    }
  }
}

/** One call at a time, started and ended by the buttons in #call. */
export class VideoCall {
  constructor({ locator, phoneInput }) {
    this.locator = locator;
    this.phoneInput = phoneInput;
    this.button = document.getElementById('btn-call');
    this.hangupButton = document.getElementById('btn-hangup');
    this.live = document.getElementById('call-live');
    this.preview = document.getElementById('preview');
    this.remote = document.getElementById('remote-audio');
    this.stateLine = document.getElementById('call-state');
    this.eta = document.getElementById('eta');
    this.incident = document.getElementById('incident-number');
    this.message = document.getElementById('call-message');
    this.active = false;
    this.reset();
    this.button.addEventListener('click', () => this.start());
    this.hangupButton.addEventListener('click', () => this.hangUp());
    this.locator.on((kind, fix) => {
      if (kind === 'fix') this.moved(fix);
    });
    // leaving the page ends the call: tell the engine so the call-taker is not left waiting
    window.addEventListener('pagehide', () => {
      if (this.active && this.id) {
        request(this.path, { method: 'DELETE', token: this.token, keepalive: true }).catch(() => {});
      }
    });
  }

  reset() {
    this.id = '';
    this.token = '';
    this.pc = null;
    this.stream = null;
    this.stopper = new AbortController();
    this.throttle = new Throttle({ seconds: 10, metres: 50 });
    this.answered = false;
  }

  get path() {
    return `/api/intake/calls/${encodeURIComponent(this.id)}`;
  }

  setState(state, words) {
    document.body.dataset.call = state;
    this.live.dataset.state = state;
    setText(this.stateLine, words || STATE_TEXT[state] || state);
  }

  note(text, bad = false) {
    this.message.textContent = text;
    this.message.classList.toggle('bad', bad);
    this.message.hidden = !text;
  }

  async start() {
    if (this.active) return;
    this.active = true;
    this.reset();
    const { signal } = this.stopper;
    this.button.hidden = true;
    this.live.hidden = false;
    this.hangupButton.hidden = false;
    this.eta.textContent = '';
    this.incident.textContent = '—';
    this.note('');
    this.setState('starting');
    if (!this.locator.denied) this.locator.start(); // the call-taker needs to know where
    try {
      const stream = await camera();
      if (signal.aborted) {
        for (const track of stream.getTracks()) track.stop(); // hung up during the prompt
        return;
      }
      this.stream = stream;
      const [audio] = this.stream.getAudioTracks();
      const [video] = this.stream.getVideoTracks();
      this.preview.hidden = !video;
      if (video) {
        this.preview.srcObject = this.stream;
        this.preview.play().catch(() => {});
      } else {
        this.note('No camera: this is a voice call.');
      }
      const pc = new RTCPeerConnection({ iceServers: [] });
      this.pc = pc;
      pc.addTransceiver(audio, { direction: 'sendrecv', streams: [this.stream] });
      if (video) pc.addTransceiver(video, { direction: 'sendonly', streams: [this.stream] });
      pc.addEventListener('track', (event) => {
        if (event.track.kind !== 'audio') return;
        this.remote.srcObject = event.streams[0] || new MediaStream([event.track]);
        this.remote.play().catch(() => {}); // the tap on "Start" allows sound
      });
      pc.addEventListener('connectionstatechange', () => {
        if (this.pc !== pc) return;
        if (pc.connectionState === 'failed') this.lost();
        else if (pc.connectionState === 'closed') this.end('');
      });
      await pc.setLocalDescription(await pc.createOffer());
      this.setState('connecting');
      await gathered(pc);
      if (signal.aborted) return;
      const answer = await this.offer(pc.localDescription.sdp, signal);
      if (!answer) return;
      if (signal.aborted) { // hung up while the engine was answering: end it there too
        const path = `/api/intake/calls/${encodeURIComponent(String(answer.call))}`;
        request(path, { method: 'DELETE', token: String(answer.token || '') }).catch(() => {});
        return;
      }
      this.id = String(answer.call);
      this.token = String(answer.token || '');
      if (answer.sdp) await pc.setRemoteDescription({ type: 'answer', sdp: answer.sdp });
      if (signal.aborted) return;
      this.setState('queued');
      const fix = this.locator.fix;
      if (fix) this.moved(fix); // a newer fix than the offer's, or the same one admitted once
      this.poll(signal);
    } catch (err) {
      if (!signal.aborted) this.end(err.message, true);
    }
  }

  /** POST the offer until the engine takes it; null when stopped. */
  async offer(sdp, signal) {
    let networkTries = 0;
    let busy = false; // after a 503, a 429 comes from our own retries: still "busy" to the citizen
    for (;;) {
      const body = { type: 'offer', sdp };
      const phone = normalisePhone(this.phoneInput.value);
      if (phone) body.phone = phone;
      const fix = this.locator.fix;
      if (fix) {
        body.lat = fix.lat;
        body.lon = fix.lon;
        if (fix.accuracy !== null) body.accuracy = fix.accuracy;
        this.throttle.admit(fix, Date.now() / 1000);
      }
      try {
        return await request('/api/intake/calls', { method: 'POST', json: body });
      } catch (err) {
        if (!(err instanceof CitizenError)) throw err;
        let wait;
        if (err.status === 503 || err.status === 429) {
          busy = busy || err.status === 503;
          wait = Math.min(60, Math.max(1, err.retryAfter ?? 3));
          const why = busy ? 'All call-takers are busy.' : 'Too many calls from here.';
          this.setState('busy', `${why} Trying again in ${Math.ceil(wait)} s… Please stay on this page.`);
        } else if (err.status === 0 && ++networkTries < MAX_NETWORK_TRIES) {
          wait = 2;
          this.setState('connecting', `${err.message} Trying again…`);
        } else {
          throw new Error(`The call could not be made: ${err.message}`);
        }
        if (await pause(wait * 1000, signal)) return null;
        this.setState('connecting');
      }
    }
  }

  async poll(signal) {
    let failures = 0;
    while (!signal.aborted) {
      try {
        const view = await request(this.path, { token: this.token });
        if (signal.aborted) return;
        failures = 0;
        this.show(view || {});
        if (view && view.state === 'ended') {
          this.endedThere(view);
          return;
        }
      } catch (err) {
        if (signal.aborted) return;
        if (err instanceof CitizenError && (err.status === 404 || err.status === 403 || err.status === 401)) {
          this.endedThere();
          return;
        }
        failures += 1;
        if (failures >= 3) this.note(`${err.message} Still trying…`, true);
      }
      if (await pause(POLL_MS, signal)) return;
    }
  }

  show(view) {
    if (view.state && view.state !== 'ended') this.setState(view.state);
    if (view.state === 'answered') this.answered = true;
    if (view.incident) setText(this.incident, String(view.incident));
    const officer = view.officer;
    setText(this.eta, officerText(officer));
    if (this.message.classList.contains('bad')) this.note('');
  }

  /** The media connection failed: ended by the engine (said as usual), or really lost. */
  async lost() {
    if (this.id) {
      try {
        const view = await request(this.path, { token: this.token });
        if (view && view.state === 'ended') {
          this.endedThere(view);
          return;
        }
      } catch {
        // cannot ask: say it was lost
      }
    }
    const { id, token } = this;
    this.end('The connection was lost. If you still need help, call 110.', true);
    if (id) request(`/api/intake/calls/${encodeURIComponent(id)}`, { method: 'DELETE', token }).catch(() => {});
  }

  /** The engine ended the call. Before anyone answered, the citizen must not think help is
   * coming; a call cut off by a failure in the centre must not look like the call-taker's end. */
  endedThere(view = null) {
    if (this.answered && view && view.outcome === 'failed') {
      this.end('The call was cut off. If you still need help, call again or call 110.', true);
    } else if (this.answered) this.end('');
    else this.end('The call was not put through. Please call 110, or send a report below.', true);
  }

  async moved(fix) {
    if (!this.active || !this.id || !this.token) return;
    const previous = this.throttle.last;
    if (!this.throttle.admit(fix, Date.now() / 1000)) return;
    const body = { lat: fix.lat, lon: fix.lon };
    if (fix.accuracy !== null) body.accuracy = fix.accuracy;
    try {
      await request(`${this.path}/location`, { method: 'POST', token: this.token, json: body });
    } catch {
      // not taken (no incident yet: 409; or no connection): the next fix tries again
      if (this.throttle.last && this.throttle.last.lat === fix.lat && this.throttle.last.lon === fix.lon) {
        this.throttle.last = previous;
      }
    }
  }

  async hangUp() {
    if (!this.active) return;
    const { id, token } = this;
    this.end('');
    if (id) {
      try {
        await request(`/api/intake/calls/${encodeURIComponent(id)}`, { method: 'DELETE', token });
      } catch {
        // already ended on the engine's side, or unreachable: this side is closed either way
      }
    }
  }

  /** Close everything on this side; `why` says what happened when it was not a normal end. */
  end(why, bad = false) {
    if (!this.active) return;
    this.active = false;
    this.stopper.abort();
    const pc = this.pc;
    this.pc = null;
    if (pc) pc.close();
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = null;
    this.preview.srcObject = null;
    this.remote.srcObject = null;
    this.setState('ended');
    this.note(why, bad);
    this.hangupButton.hidden = true;
    this.button.hidden = false;
    this.button.textContent = 'Call again';
    this.preview.hidden = true;
  }
}
