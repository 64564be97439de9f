// Injected before any page script: collects every remote audio track of every
// RTCPeerConnection, mixes them in Web Audio and records the mix with MediaRecorder.
// Chunks go to Python through the `__minutaChunk` binding (base64, in order; null = finished).
(() => {
  if (window.__minutaCapture) return;
  const Native = window.RTCPeerConnection;
  if (!Native) return;
  const tracks = new Map();
  let context = null;
  let mix = null;
  let recorder = null;
  let queue = Promise.resolve();

  function graph() {
    if (!context) {
      context = new AudioContext({ sampleRate: 48000 });
      mix = context.createMediaStreamDestination();
    }
    return context;
  }

  function add(track) {
    if (track.kind !== "audio" || tracks.has(track.id)) return;
    const stream = new MediaStream([track]);
    // Chromium feeds a remote WebRTC track into Web Audio only while a media element plays it.
    const sink = new Audio();
    sink.muted = true;
    sink.srcObject = stream;
    sink.play().catch(() => {});
    const source = graph().createMediaStreamSource(stream);
    source.connect(mix);
    tracks.set(track.id, { source, sink });
    track.addEventListener("ended", () => {
      const entry = tracks.get(track.id);
      if (entry) entry.source.disconnect();
      tracks.delete(track.id);
    });
  }

  class CapturingPeerConnection extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("track", (event) => add(event.track));
    }
  }
  window.RTCPeerConnection = CapturingPeerConnection;
  window.webkitRTCPeerConnection = CapturingPeerConnection;

  function toBase64(buffer) {
    const bytes = new Uint8Array(buffer);
    let text = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
    }
    return btoa(text);
  }

  window.__minutaCapture = {
    start(timesliceMs) {
      const ctx = graph();
      ctx.resume().catch(() => {});
      recorder = new MediaRecorder(mix.stream, {
        mimeType: "audio/webm;codecs=opus", audioBitsPerSecond: 64000,
      });
      // A queue keeps chunks in order although arrayBuffer() resolves asynchronously.
      recorder.ondataavailable = (event) => {
        if (!event.data.size) return;
        queue = queue.then(async () => window.__minutaChunk(toBase64(await event.data.arrayBuffer())));
      };
      recorder.onstop = () => { queue = queue.then(() => window.__minutaChunk(null)); };
      recorder.start(timesliceMs);
      return true;
    },
    stop() {
      if (recorder && recorder.state !== "inactive") recorder.stop();
      else queue = queue.then(() => window.__minutaChunk(null));
      return true;
    },
    trackCount() { return tracks.size; },
  };
})();
