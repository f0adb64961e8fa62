// Where the citizen is: the browser's geolocation, watched with high accuracy once the person
// asks to share it (or starts a call). The latest fix goes with a report or a call; during a
// call each new fix is sent too, but no more often than the Throttle lets through.

const STORE_KEY = 'h110.sharing';
const WATCH = { enableHighAccuracy: true, maximumAge: 5000, timeout: 30000 };

/** Metres between two {lat, lon} on the Earth (haversine). */
export function metresBetween(a, b) {
  const rad = Math.PI / 180;
  const dLat = (b.lat - a.lat) * rad;
  const dLon = (b.lon - a.lon) * rad;
  const s = Math.sin(dLat / 2) ** 2 + Math.cos(a.lat * rad) * Math.cos(b.lat * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371008.8 * Math.asin(Math.min(1, Math.sqrt(s)));
}

/**
 * Which fixes to send during a call: the first one; then one that moved `metres` from the last
 * sent, or any new one once `seconds` have passed; never two within `floor` seconds.
 */
export class Throttle {
  constructor({ seconds = 10, metres = 50, floor = 2 } = {}) {
    this.seconds = seconds;
    this.metres = metres;
    this.floor = floor;
    this.last = null; // {lat, lon, at}
  }

  /** true when `fix` ({lat, lon}) at `now` (seconds) should be sent; it is then remembered. */
  admit(fix, now) {
    const last = this.last;
    if (last !== null) {
      const waited = now - last.at;
      if (waited < this.floor) return false;
      if (waited < this.seconds && metresBetween(last, fix) < this.metres) return false;
    }
    this.last = { lat: fix.lat, lon: fix.lon, at: now };
    return true;
  }
}

const REASONS = {
  1: 'Location was not allowed. Tell the call-taker where you are, or allow location for this page in the browser settings.',
  2: 'Your position cannot be found right now. Still trying…',
  3: 'Finding your position is taking long. Still trying…',
};

/**
 * The watch over the browser's position. `fix` is the latest {lat, lon, accuracy, at} or null;
 * listeners get ('fix', fix) and ('status', words, isError).
 */
export class Locator {
  constructor() {
    this.fix = null;
    this.watching = false;
    this.denied = false;
    this.watchId = null;
    this.listeners = new Set();
  }

  on(listener) {
    this.listeners.add(listener);
  }

  emit(...args) {
    for (const listener of this.listeners) listener(...args);
  }

  /** Was sharing on before this page was reloaded? Then it resumes without a new tap. */
  static wasSharing() {
    try {
      return sessionStorage.getItem(STORE_KEY) === 'on';
    } catch {
      return false;
    }
  }

  start() {
    if (this.watching) return true;
    if (!('geolocation' in navigator)) {
      this.emit('status', 'This browser cannot share its location. Tell the call-taker where you are.', true);
      return false;
    }
    if (!window.isSecureContext) {
      this.emit('status', 'Location needs a secure (https) page. Tell the call-taker where you are.', true);
      return false;
    }
    this.watching = true;
    this.denied = false;
    try {
      sessionStorage.setItem(STORE_KEY, 'on');
    } catch {
      // private mode: sharing just does not survive a reload
    }
    this.emit('status', 'Finding your position…', false);
    this.watchId = navigator.geolocation.watchPosition(
      (position) => this.onPosition(position),
      (error) => this.onError(error),
      WATCH,
    );
    return true;
  }

  stop() {
    if (this.watchId !== null) navigator.geolocation.clearWatch(this.watchId);
    this.watchId = null;
    this.watching = false;
  }

  onPosition(position) {
    const { latitude, longitude, accuracy } = position.coords;
    if (!Number.isFinite(latitude) || !Number.isFinite(longitude)) return;
    this.fix = {
      lat: latitude,
      lon: longitude,
      accuracy: Number.isFinite(accuracy) ? accuracy : null,
      at: Date.now() / 1000,
    };
    this.emit('fix', this.fix);
    this.emit('status', 'Your location is shared.', false);
  }

  onError(error) {
    if (error.code === 1) {
      this.denied = true;
      this.stop();
      try {
        sessionStorage.removeItem(STORE_KEY);
      } catch {
        // nothing kept anyway
      }
    }
    // a time-out or no signal: the watch keeps going and the last fix stays valid
    this.emit('status', REASONS[error.code] || `Location error: ${error.message}`, true);
  }
}
