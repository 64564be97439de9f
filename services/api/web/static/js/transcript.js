// The audio player, the topic timeline and the transcript, kept in step with each other:
// clicking a line or topic plays from there; the line being played is highlighted.
import { clock, h, speakerColour } from "./dom.js";
import { t } from "./i18n.js";

// The line playing at `time`: the last line that started at or before it.
function lineAt(lines, time) {
  let found = -1;
  for (let i = 0; i < lines.length; i += 1) {
    if (lines[i].start <= time + 0.05) found = i;
    else break;
  }
  return found;
}

export function renderPlayer(result, speakers, audioLink) {
  const audio = h("audio", { controls: true, preload: "metadata", class: "player",
    "aria-label": t("player") });
  if (audioLink.url) audio.src = audioLink.url; // none once retention deleted the recording
  const followBox = h("input", { type: "checkbox", id: "follow", checked: true });

  function playFrom(seconds) {
    audio.currentTime = seconds;
    audio.play().catch(() => {}); // a browser may refuse autoplay; the position is still set
  }

  // Topics as a timeline: widths proportional to their share of the recording.
  const duration = result.audio.duration || 1;
  const topics = (result.minutes.topics.length ? result.minutes.topics : result.topics)
    .filter((topic) => topic.end > topic.start);
  const timeline = h("ol", { class: "timeline", "aria-label": t("topics_title") },
    topics.map((topic, index) => h("li", {
      style: `left:${(100 * topic.start) / duration}%;width:${(100 * (topic.end - topic.start)) / duration}%`,
    }, h("button", { type: "button", class: `topic t${index % 4}`,
      title: `${clock(topic.start)} ${topic.title}`,
      onclick: () => playFrom(topic.start) },
    h("span", { class: "time" }, clock(topic.start)), " ", topic.title || "…"))));

  const segments = result.segments;
  const lines = segments.map((segment) => {
    const who = h("span", { class: "who", dataset: { speaker: segment.speaker },
      style: `color:${speakerColour(segment.speaker, speakers.labels)}` },
    speakers.name(segment.speaker));
    const button = h("button", { type: "button", class: "line",
      "aria-label": `${t("play_from", { time: clock(segment.start) })}: ${segment.text}`,
      dataset: { start: String(segment.start) },
      onclick: () => playFrom(segment.start) },
    h("span", { class: "time" }, clock(segment.start)), who, h("span", { class: "text" },
      segment.text));
    return h("li", { style: `border-color:${speakerColour(segment.speaker, speakers.labels)}` },
      button);
  });
  const transcript = h("ol", { class: "transcript" }, lines);

  let current = -1;
  function highlight(scroll) {
    const index = lineAt(segments, audio.currentTime);
    if (index === current) return;
    if (current >= 0) {
      lines[current].classList.remove("current");
      lines[current].firstChild.removeAttribute("aria-current");
    }
    current = index;
    if (index < 0) return;
    lines[index].classList.add("current");
    lines[index].firstChild.setAttribute("aria-current", "true");
    if (scroll && followBox.checked) lines[index].scrollIntoView({ block: "nearest" });
  }
  audio.addEventListener("timeupdate", () => highlight(true));
  audio.addEventListener("seeked", () => highlight(true));

  speakers.onChange(() => {
    for (const who of transcript.querySelectorAll(".who")) {
      who.textContent = speakers.name(who.dataset.speaker);
    }
  });

  // Jump to a moment (from search): set once the player knows the recording.
  function seek(seconds) {
    if (!Number.isFinite(seconds)) return;
    const go = () => {
      audio.currentTime = seconds;
      highlight(false);
      if (current >= 0) {
        lines[current].scrollIntoView({ block: "center" });
        lines[current].firstChild.focus({ preventScroll: true });
      }
    };
    if (audio.readyState >= 1) go();
    else audio.addEventListener("loadedmetadata", go, { once: true });
  }

  const player = h("section", { class: "card", "aria-labelledby": "player-heading" },
    h("h2", { id: "player-heading" }, t("player")), audio,
    h("label", { class: "check", for: "follow" }, followBox, t("follow")),
    topics.length ? h("h3", {}, t("topics_title")) : null,
    topics.length ? timeline : null);
  const text = h("section", { class: "card", "aria-labelledby": "transcript-heading" },
    h("h2", { id: "transcript-heading" }, t("transcript_title")),
    segments.length ? transcript : h("p", { class: "muted" }, t("nothing")));
  return { player, text, audio, seek, playFrom, stop: () => audio.pause() };
}
