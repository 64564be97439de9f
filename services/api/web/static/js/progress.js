// A meeting's processing state as shown in the list and on its page (status + stage bar).
import { h } from "./dom.js";
import { t } from "./i18n.js";

export const STAGES = ["decode", "speech detection", "transcription", "speakers", "topics",
  "minutes"];
const TERMINAL = new Set(["completed", "failed"]);

export function isTerminal(status) {
  return TERMINAL.has(status);
}

// Overall fraction (stages weighted equally) and the stage being worked on.
export function summarise(progress = {}) {
  let done = 0;
  let stage = null;
  for (const name of STAGES) {
    const fraction = progress[name];
    if (fraction === undefined) continue;
    done += Math.min(1, Math.max(0, fraction));
    stage = name;
  }
  return { fraction: done / STAGES.length, stage };
}

export function statusBadge(status) {
  return h("span", { class: `badge ${status}`, dataset: { status } }, t(`status_${status}`));
}

// An element that shows status and progress; update(event) takes an SSE event or a meeting.
export function progressView(title) {
  const badge = h("span");
  const bar = h("progress", { max: 1, value: 0, "aria-label": t("progress_label", { title }) });
  const stage = h("span", { class: "stage muted" });
  const error = h("p", { class: "error" });
  const root = h("div", { class: "progress" }, badge, bar, stage, error);
  function update({ status, progress, error: reason }) {
    badge.replaceChildren(statusBadge(status));
    root.dataset.status = status;
    const { fraction, stage: current } = summarise(progress);
    bar.hidden = isTerminal(status);
    stage.hidden = isTerminal(status);
    bar.value = fraction;
    bar.setAttribute("aria-valuetext", `${Math.round(fraction * 100)}%`);
    stage.textContent = current ? `${t(`stage_${current}`)} · ${Math.round(fraction * 100)}%` : "";
    error.textContent = status === "failed" && reason ? t("meeting_failed", { error: reason }) : "";
  }
  return { root, update };
}
