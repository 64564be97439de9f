// The test meeting: one Janus AudioBridge room, a waiting room and an "end meeting" switch
// kept by the page server (/api/rooms/<id>), participants and who is talking shown in the DOM.
/* global Janus */
const params = new URLSearchParams(location.search);
const room = Number(params.get("room"));
const janusUrl = params.get("janus");
const $ = (id) => document.getElementById(id);
const people = new Map(); // Janus participant id -> {name, talking, self}
let handle = null;
let session = null;
let joined = false;
let ended = false;

function show(section) {
  for (const id of ["join-form", "waiting-room", "in-meeting", "meeting-ended", "refused"]) {
    $(id).hidden = id !== section;
  }
}

function render() {
  const list = $("participants");
  list.replaceChildren();
  for (const person of people.values()) {
    const item = document.createElement("li");
    item.dataset.participantName = person.name;
    item.dataset.speaking = String(person.talking);
    if (person.self) item.dataset.self = "true";
    item.textContent = person.name + (person.talking ? " (speaking)" : "");
    list.append(item);
  }
}

async function roomState() {
  const reply = await fetch(`/api/rooms/${room}`);
  if (!reply.ok) throw new Error(`room ${room}: ${reply.status}`);
  return reply.json();
}

function refuse(reason) {
  $("refused-reason").textContent = reason;
  show("refused");
  $("status").textContent = "Could not join";
}

function endMeeting() {
  if (ended) return;
  ended = true;
  if (handle) handle.send({ message: { request: "leave" } });
  if (session) session.destroy({ cleanupHandles: true });
  people.clear();
  show("meeting-ended");
  $("status").textContent = "Meeting ended";
}

async function watchRoom() {
  while (!ended) {
    try {
      const state = await roomState();
      if (state.ended) endMeeting();
    } catch (error) {
      console.warn(error);
    }
    await new Promise((resolve) => setTimeout(resolve, 700));
  }
}

function update(list) {
  for (const p of list || []) {
    const old = people.get(p.id);
    people.set(p.id, { name: p.display || `#${p.id}`, talking: !!p.talking, self: old?.self || false });
  }
  render();
}

function onMessage(msg, jsep) {
  const event = msg.audiobridge;
  if (event === "joined") {
    if (!joined) {
      joined = true;
      people.set(msg.id, { name: $("display-name").value, talking: false, self: true });
      const muted = $("mute-mic").checked;
      handle.createOffer({
        tracks: [{ type: "audio", capture: !muted, recv: true }],
        success: (offer) => handle.send({ message: { request: "configure", muted }, jsep: offer }),
        error: (error) => refuse(`WebRTC error: ${error}`),
      });
      show("in-meeting");
      $("status").textContent = "In the meeting";
    }
    update(msg.participants);
  } else if (event === "event") {
    if (msg.error) {
      refuse(msg.error);
      return;
    }
    if (msg.participants) update(msg.participants);
    if (msg.leaving) {
      people.delete(msg.leaving);
      render();
    }
  } else if (event === "talking" || event === "stopped-talking") {
    const person = people.get(msg.id);
    if (person) {
      person.talking = event === "talking";
      render();
    }
  } else if (event === "destroyed") {
    endMeeting();
  }
  if (jsep) handle.handleRemoteJsep({ jsep });
}

function connect(name, muted) {
  Janus.init({
    debug: false,
    callback: () => {
      session = new Janus({
        server: janusUrl,
        success: () => session.attach({
          plugin: "janus.plugin.audiobridge",
          success: (pluginHandle) => {
            handle = pluginHandle;
            // The first joiner creates the room; "already exists" (486) is fine.
            handle.send({
              message: {
                request: "create", room, permanent: false, sampling_rate: 48000,
                audiolevel_event: true, audio_active_packets: 10, audio_level_average: 65,
              },
              success: () => handle.send({
                message: { request: "join", room, display: name, muted },
              }),
            });
          },
          error: (error) => refuse(`Janus attach failed: ${error}`),
          onmessage: onMessage,
          onremotetrack: (track, mid, on) => {
            if (track.kind !== "audio" || !on) return;
            const audio = document.createElement("audio");
            audio.autoplay = true;
            audio.srcObject = new MediaStream([track]);
            $("remote-audio").append(audio);
          },
        }),
        error: (error) => refuse(`Janus unreachable: ${error}`),
      });
    },
  });
}

async function knock(name) {
  const reply = await fetch(`/api/rooms/${room}/knock`, {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ name }),
  });
  return reply.json();
}

async function join(event) {
  event.preventDefault();
  const name = $("display-name").value.trim();
  const muted = $("mute-mic").checked;
  let state = await knock(name);
  if (!state.admitted) {
    show("waiting-room");
    $("status").textContent = "In the waiting room";
    while (!state.admitted && !state.ended) {
      await new Promise((resolve) => setTimeout(resolve, 700));
      state = await knock(name);
    }
  }
  if (state.ended) {
    endMeeting();
    return;
  }
  $("status").textContent = "Joining…";
  connect(name, muted);
  watchRoom();
}

async function start() {
  if (!room || !janusUrl) {
    refuse("This link is not a meeting");
    return;
  }
  const state = await roomState();
  if (state.ended) {
    ended = true;
    show("meeting-ended");
    $("status").textContent = "Meeting ended";
    return;
  }
  $("join-form").addEventListener("submit", join);
  $("leave-button").addEventListener("click", endMeeting);
  show("join-form");
  $("status").textContent = "Ready to join";
}

start();
