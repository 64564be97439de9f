// Speakers: names shared by every part of the meeting page, renamed inline.
import { api } from "./api.js";
import { announce, h, speakerColour } from "./dom.js";
import { t } from "./i18n.js";

// The page's view of who the speakers are; listeners re-render names when one changes.
export function speakerState(result) {
  const labels = result.speakers.map((s) => s.id);
  const names = new Map(result.speakers.map((s) => [s.id, s.name || ""]));
  // Where a name came from ("platform", "voice", "proposal", "user"): shown so a person knows
  // which names no one has checked yet.
  const sources = new Map(result.speakers.map((s) => [s.id, s.named_by || null]));
  const listeners = [];
  return {
    labels,
    name: (label) => names.get(label) || label,
    source: (label) => (names.get(label) ? sources.get(label) : null),
    set(label, name, source = "user") {
      names.set(label, name || "");
      sources.set(label, name ? source : null);
      listeners.forEach((listener) => listener(label));
    },
    onChange: (listener) => listeners.push(listener),
  };
}

export function renderSpeakers(meetingId, speakers) {
  const rows = speakers.labels.map((label) => {
    const inputId = `speaker-${label}`;
    const input = h("input", { id: inputId, type: "text", maxlength: "200",
      value: speakers.name(label) === label ? "" : speakers.name(label), placeholder: label });
    const error = h("span", { class: "error", role: "alert" });
    const origin = h("small", { class: "muted named-by" });
    const showOrigin = () => {
      const source = speakers.source(label);
      origin.textContent = source && source !== "user" ? t(`named_by_${source}`) : "";
    };
    showOrigin();
    speakers.onChange((changed) => { if (changed === label) showOrigin(); });
    async function save(event) {
      event.preventDefault();
      error.textContent = "";
      try {
        const answer = await api.renameSpeaker(meetingId, label, input.value.trim() || null);
        speakers.set(label, answer.name, answer.named_by);
        announce(answer.name ? t("renamed", { label, name: answer.name })
          : t("name_cleared", { label }));
      } catch (exc) {
        error.textContent = exc.message;
      }
    }
    return h("li", {},
      h("form", { class: "speaker", onsubmit: save, dataset: { label } },
        h("span", { class: "swatch", "aria-hidden": "true",
          style: `background:${speakerColour(label, speakers.labels)}` }),
        h("label", { for: inputId }, t("speaker_name", { label })),
        input,
        h("button", { type: "submit" }, t("rename")),
        origin,
        error));
  });
  return h("section", { class: "card", "aria-labelledby": "speakers-heading" },
    h("h2", { id: "speakers-heading" }, t("speakers_title")),
    rows.length ? h("ul", { class: "speakers" }, rows) : h("p", { class: "muted" }, t("nothing")));
}
