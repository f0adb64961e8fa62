// The live feed (GET /api/stream, server-sent events). EventSource reconnects by itself and
// sends Last-Event-ID, so the engine replays what was missed; a snapshot every second puts
// the seats and the queue right whatever was lost. Named SSE events cannot be caught with a
// wildcard, so the topics the screens use are listed; every alert comes as the one event
// 'alert' with its topic ('alert/<kind>') inside, so a new kind needs no change here.

const TOPICS = [
  'snapshot',
  'call/offered', 'call/ringing', 'call/answered', 'call/ended',
  'incident/opened', 'incident/event',
  'dispatch/started', 'dispatch/attempt', 'dispatch/bridged', 'dispatch/officer-left',
  'agency/dialing', 'agency/ringing', 'agency/answered', 'agency/bridged',
  'agency/failed', 'agency/ended',
  'officer/status', 'officer/signed-off',
  'text/offered', 'text/withdrawn', 'text/requeued', 'text/taken', 'text/message',
  'text/delivery', 'text/closed',
  'alert',
];

/**
 * Open the stream. `onEvent(topic, data)` gets every event; `onLink(state)` gets 'connecting',
 * 'live' or 'down' ('down': the engine refused the stream, e.g. the session ended).
 * Returns a function that closes it.
 */
export function connect(onEvent, onLink) {
  let source = null;
  let closed = false;
  let retry = null;
  let lastSnapshot = 0;
  let link = '';
  const say = (state) => {
    if (state !== link) onLink((link = state));
  };

  function open() {
    say('connecting');
    source = new EventSource('/api/stream');
    source.onopen = () => say('live');
    source.onerror = () => {
      if (closed) return;
      if (source.readyState === EventSource.CLOSED) {
        // a refused stream (401, 5xx) is not retried by the browser: try again ourselves
        say('down');
        retry = setTimeout(open, 3000);
      } else {
        say('connecting');
      }
    };
    for (const topic of TOPICS) {
      source.addEventListener(topic, (message) => {
        let data;
        try {
          data = JSON.parse(message.data);
        } catch {
          return;
        }
        if (topic === 'snapshot') {
          lastSnapshot = Date.now();
          say('live');
        }
        onEvent(topic === 'alert' ? data.topic : topic, data);
      });
    }
  }

  // a stream that is open but silent (a proxy holding it, a stalled engine) is not live
  const watchdog = setInterval(() => {
    if (source && source.readyState === EventSource.OPEN && Date.now() - lastSnapshot > 5000) {
      say('connecting');
    }
  }, 2000);

  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    clearInterval(watchdog);
    if (source) source.close();
  };
}
