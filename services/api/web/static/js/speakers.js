// Speakers: names shared by every part of the meeting page, renamed inline.
import { api } from "./api.js";
import { announce, h, speakerColour } from "./dom.js";
import { t } from "./i18n.js";

// The page's view of who the speakers are; listeners re-render names when one changes.
export function speakerState(result) {
  const labels = result.speakers.map((s) => s.id);
  const names = new Map(result.speakers.map((s) => [s.id, s.name || ""]));
  const listeners = [];
  return {
    labels,
    name: (label) => names.get(label) || label,
    set(label, name) {
      names.set(label, name || "");
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
    async function save(event) {
      event.preventDefault();
      error.textContent = "";
      try {
        const answer = await api.renameSpeaker(meetingId, label, input.value.trim() || null);
        speakers.set(label, answer.name);
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
        error));
  });
  return h("section", { class: "card", "aria-labelledby": "speakers-heading" },
    h("h2", { id: "speakers-heading" }, t("speakers_title")),
    rows.length ? h("ul", { class: "speakers" }, rows) : h("p", { class: "muted" }, t("nothing")));
}
