// The minutes editor: title, summary, decisions and action items (owner, task, due), saved
// as a whole with PATCH /v1/meetings/{id} {"minutes": ...}.
import { api } from "./api.js";
import { clock, h, nextId } from "./dom.js";
import { t } from "./i18n.js";

// `player` is the page's player ({audio, playFrom}): new items point at its position, and
// each item's evidence plays from there.
export function renderMinutes(meetingId, minutes, speakers, player) {
  const titleId = nextId("mtitle");
  const summaryId = nextId("summary");
  const title = h("input", { id: titleId, type: "text", value: minutes.title || "" });
  const summary = h("textarea", { id: summaryId, rows: "5" }, minutes.summary || "");
  const decisions = h("ol", { class: "decisions" });
  const actions = h("ol", { class: "actions" });
  const status = h("p", { class: "status", role: "status" });

  function renumber() {
    [...decisions.children].forEach((li, i) => {
      li.querySelector("label").textContent = t("decision", { n: i + 1 });
    });
  }

  function addDecision(text = "") {
    const id = nextId("decision");
    const li = h("li", { class: "decision" },
      h("label", { for: id, class: "visually-hidden" }),
      h("input", { id, type: "text", value: text }),
      h("button", { type: "button", class: "link", onclick: () => { li.remove(); renumber(); } },
        t("remove")));
    decisions.append(li);
    renumber();
    return li;
  }

  function ownerSelect(id, owner) {
    const select = h("select", { id, class: "owner" });
    const known = new Set(speakers.labels);
    for (const label of speakers.labels) {
      select.append(h("option", { value: label }, speakers.name(label)));
    }
    // An owner the LLM named who is not a speaker label stays selectable, as written.
    if (owner && !known.has(owner)) select.append(h("option", { value: owner }, owner));
    select.value = owner || speakers.labels[0] || "";
    return select;
  }

  function addAction(item) {
    const ids = { owner: nextId("owner"), task: nextId("task"), due: nextId("due") };
    const li = h("li", { class: "action", dataset: {
      start: String(item.evidence.start), end: String(item.evidence.end) } },
    h("div", { class: "grow" }, h("label", { for: ids.task }, t("task")),
      h("input", { id: ids.task, class: "task", type: "text", value: item.task })),
    h("div", {}, h("label", { for: ids.owner }, t("owner")), ownerSelect(ids.owner, item.owner)),
    h("div", {}, h("label", { for: ids.due }, t("due")),
      h("input", { id: ids.due, class: "due", type: "text", value: item.due || "",
        placeholder: t("due_placeholder") })),
    h("div", { class: "foot" },
      h("button", { type: "button", class: "link evidence",
        "aria-label": t("play_from", { time: clock(item.evidence.start) }),
        onclick: () => player.playFrom(item.evidence.start) }, `▶ ${clock(item.evidence.start)}`),
      h("button", { type: "button", class: "link", onclick: () => li.remove() }, t("remove"))));
    actions.append(li);
    return li;
  }

  (minutes.decisions || []).forEach((d) => addDecision(d));
  (minutes.action_items || []).forEach((item) => addAction(item));

  speakers.onChange((label) => {
    for (const option of actions.querySelectorAll(`option[value="${CSS.escape(label)}"]`)) {
      option.textContent = speakers.name(label);
    }
  });

  function collect() {
    return {
      ...minutes,
      title: title.value.trim(),
      summary: summary.value.trim(),
      decisions: [...decisions.querySelectorAll("input")].map((i) => i.value.trim())
        .filter(Boolean),
      action_items: [...actions.children].map((li) => ({
        owner: li.querySelector(".owner").value,
        task: li.querySelector(".task").value.trim(),
        due: li.querySelector(".due").value.trim() || null,
        evidence: { start: Number(li.dataset.start), end: Number(li.dataset.end) },
      })).filter((item) => item.task),
    };
  }

  async function save(event) {
    event.preventDefault();
    status.textContent = "";
    status.classList.remove("error");
    try {
      const meeting = await api.patch(meetingId, { minutes: collect() });
      minutes = meeting.result.minutes;
      status.textContent = t("saved"); // a live region itself: no separate announcement
    } catch (exc) {
      status.classList.add("error");
      status.textContent = t("error", { detail: exc.message });
    }
  }

  return h("section", { class: "card", "aria-labelledby": "minutes-heading" },
    h("h2", { id: "minutes-heading" }, t("minutes_heading")),
    h("form", { class: "minutes", onsubmit: save },
      h("label", { for: titleId }, t("minutes_title_field")), title,
      h("label", { for: summaryId }, t("summary_title")), summary,
      h("h3", {}, t("decisions_title")), decisions,
      h("button", { type: "button", onclick: () => addDecision().querySelector("input").focus() },
        t("add_decision")),
      h("h3", {}, t("actions_title")), actions,
      h("button", { type: "button", onclick: () => {
        // A new item points at the moment the player is at (its evidence in the recording).
        const now = player.audio.currentTime || 0;
        addAction({ owner: speakers.labels[0] || "", task: "", due: null,
          evidence: { start: now, end: now } }).querySelector(".task").focus();
      } }, t("add_action")),
      h("div", { class: "save" }, h("button", { type: "submit", class: "primary" },
        t("save_minutes")), status)));
}
