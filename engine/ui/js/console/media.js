// What the citizen shows the call-taker: the live video of a WebRTC caller from the 110 web
// app (its own peer connection to the member that holds the call, receive-only), the snapshot
// for the dispatched officer, and every picture filed with the incident (a text report's
// pictures, snapshots). Pictures are <img> from the engine's own origin (CSP 'self').

import { post, q } from '../api.js';
import { $, h, fill } from '../dom.js';
import { toast, fail } from '../toast.js';
import * as desk from './desk.js';

const d = desk.desk;
let watching = null; // {callId, pc}

export function renderMedia() {
  const call = d.call;
  const web = Boolean(call && call.trunk === 'web-app');
  const live = web && !call.ended && call.seat_id === (d.me && d.me.seat) && call.answer_seconds !== null;
  $('#media-panel').dataset.video = live ? 'live' : 'none';
  $('#btn-snapshot').disabled = !live;
  if (live && (!watching || watching.callId !== call.call_id)) watch(call.call_id);
  if (!live && watching) stop();
  renderPictures();
}

async function watch(callId) {
  stop();
  const pc = new RTCPeerConnection({ iceServers: [] });
  watching = { callId, pc };
  pc.addTransceiver('video', { direction: 'recvonly' });
  pc.onconnectionstatechange = () => {
    // the live view broke (the network, the member busy): look again while the call lasts
    if (pc.connectionState === 'failed' && watching && watching.pc === pc) {
      $('#video-note').textContent = 'Video lost: reconnecting…';
      setTimeout(() => {
        if (watching && watching.pc === pc) watch(callId);
      }, 1000);
    }
  };
  pc.ontrack = (event) => {
    const video = $('#caller-video');
    video.srcObject = event.streams[0] || new MediaStream([event.track]);
    video.play().catch(() => {});
  };
  try {
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc);
    const answer = await post(`/api/calls/${q(callId)}/video`, { type: 'offer', sdp: pc.localDescription.sdp });
    if (!watching || watching.pc !== pc) return;
    await pc.setRemoteDescription(answer);
    $('#video-note').textContent = 'Live video from the caller';
  } catch (err) {
    if (watching && watching.pc === pc) {
      $('#video-note').textContent = err.status === 409 ? err.message : `No video: ${err.message}`;
      if (err.status === 504 || err.status === 0) {
        setTimeout(() => {
          if (watching && watching.pc === pc) watch(callId); // the member was slow: try again
        }, 2000);
      }
    }
  }
}

/** Non-trickle: the offer goes once, with its candidates (bounded wait). */
function gathered(pc) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState === 'complete') resolve();
    };
    pc.addEventListener('icegatheringstatechange', done);
    setTimeout(resolve, 3000);
  });
}

function stop() {
  if (!watching) return;
  watching.pc.close();
  watching = null;
  $('#caller-video').srcObject = null;
  $('#video-note').textContent = 'No video call';
}

export async function snapshot() {
  const call = d.call;
  if (!call || !watching) return;
  try {
    const shot = await post(`/api/calls/${q(call.call_id)}/snapshot`);
    toast(shot.officer ? `Snapshot sent to officer ${shot.officer}.` : 'Snapshot filed (no officer dispatched yet).');
  } catch (err) {
    fail('Snapshot', err);
  }
}

function renderPictures() {
  const number = desk.incidentNumber();
  const pictures = [];
  for (const event of d.events || []) {
    for (const item of (event.data && event.data.attachments) || []) {
      if (item && /^[0-9a-f]{64}$/.test(item.sha256 || '')) pictures.push({ item, kind: event.kind });
    }
  }
  fill(
    $('#pictures'),
    pictures.length && number
      ? pictures.map(({ item, kind }) => {
          const src = `/api/incidents/${q(number)}/pictures/${item.sha256}`;
          return h(
            'a',
            { href: src, target: '_blank', rel: 'noopener', title: `${kind}: ${item.width || '?'}×${item.height || '?'}` },
            h('img', { src, alt: `${kind === 'snapshot' ? 'snapshot' : 'picture'} filed with the incident`, loading: 'lazy' }),
          );
        })
      : h('span', { class: 'faint', text: 'no pictures' }),
  );
}
