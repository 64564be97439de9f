// One meeting: status while processing; then player + transcript, speakers, minutes, export
// and delete.
import { api, ApiError, follow } from "./api.js";
import { announce, h } from "./dom.js";
import { language, t } from "./i18n.js";
import { renderMinutes } from "./minutes.js";
import { isTerminal, progressView } from "./progress.js";
import { renderSpeakers, speakerState } from "./speakers.js";
import { renderPlayer } from "./transcript.js";

const FORMATS = [["md", "Markdown"], ["docx", "DOCX"], ["srt", "SRT"], ["vtt", "VTT"],
  ["json", "JSON"]];

function filenameOf(response, fallback) {
  const match = /filename="([^"]+)"/.exec(response.headers.get("Content-Disposition") || "");
  return match ? match[1] : fallback;
}

function exportButtons(meeting, error) {
  return h("div", { class: "exports", role: "group", "aria-label": t("export_title") },
    FORMATS.map(([format, label]) => h("button", {
      type: "button", dataset: { format }, "aria-label": t("export_as", { format: label }),
      onclick: async () => {
        error.textContent = "";
        try {
          const response = await api.exportFile(meeting.id, format);
          const url = URL.createObjectURL(await response.blob());
          const link = h("a", { href: url, download: filenameOf(response, `minutes.${format}`) });
          document.body.append(link);
          link.click();
          link.remove();
          setTimeout(() => URL.revokeObjectURL(url), 10000);
        } catch (exc) {
          error.textContent = t("error", { detail: exc.message });
        }
      } }, label)));
}

function deleteButton(meeting, title, error) {
  const dialog = h("dialog", { "aria-labelledby": "delete-heading" },
    h("form", { method: "dialog" },
      h("h2", { id: "delete-heading" }, t("delete_confirm_title")),
      h("p", {}, t("delete_confirm_text", { title })),
      h("div", { class: "row" },
        h("button", { value: "cancel", autofocus: true }, t("cancel")),
        h("button", { value: "delete", class: "danger" }, t("delete_yes")))));
  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "delete") return;
    try {
      await api.remove(meeting.id);
      announce(t("deleted"));
      location.hash = "#/meetings";
    } catch (exc) {
      error.textContent = t("error", { detail: exc.message });
    }
  });
  return [h("button", { type: "button", class: "danger", onclick: () => dialog.showModal() },
    t("delete_meeting")), dialog];
}

export function renderMeeting(main, id, startAt) {
  let stopStream = () => {};
  let stopPlayer = () => {};
  let gone = false;
  const status = h("p", { class: "muted" }, t("meeting_loading"));
  main.append(h("p", {}, h("a", { href: "#/meetings" }, `← ${t("back")}`)), status);

  async function show() {
    let meeting;
    try {
      meeting = await api.meeting(id);
    } catch (exc) {
      status.textContent = exc instanceof ApiError && exc.status === 404
        ? t("meeting_not_found") : t("error", { detail: exc.message });
      status.className = "error";
      return;
    }
    if (gone) return;
    const title = meeting.title || meeting.audio.filename || t("untitled");
    const error = h("p", { class: "error", role: "alert" });
    const view = progressView(title);
    view.update(meeting);
    const created = new Date(meeting.created_at).toLocaleString(language(),
      { dateStyle: "medium", timeStyle: "short" });
    const header = h("header", { class: "meeting-head" },
      h("h1", {}, title),
      h("p", { class: "muted small" }, `${t("created")} ${created} · ${meeting.audio.filename}`),
      view.root,
      h("div", { class: "row wrap" },
        meeting.status === "completed" ? exportButtons(meeting, error) : null,
        ...deleteButton(meeting, title, error)),
      error);
    main.replaceChildren(main.firstChild, header);
    main.querySelector("h1").tabIndex = -1;

    if (!isTerminal(meeting.status)) {
      main.append(h("p", { class: "muted" }, t("meeting_processing")));
      stopStream = follow(id, (event) => {
        view.update(event);
        if (isTerminal(event.status)) show(); // re-render with the result
      });
      return;
    }
    if (meeting.status !== "completed" || !meeting.result) return;
    const result = meeting.result;
    const speakers = speakerState(result);
    // The retention policy may have deleted the recording; the transcript and minutes remain.
    const deletedAt = meeting.audio.deleted_at;
    const link = deletedAt ? { url: null } : await api.audio(id);
    if (gone) return;
    const player = renderPlayer(result, speakers, link);
    if (deletedAt) {
      player.audio.replaceWith(h("p", { class: "muted small" }, t("recording_deleted",
        { date: new Date(deletedAt).toLocaleDateString(language()) })));
    }
    stopPlayer = player.stop;
    main.append(h("div", { class: "layout" },
      h("div", { class: "side" }, player.player, renderSpeakers(id, speakers),
        renderMinutes(id, result.minutes, speakers, player)),
      h("div", { class: "body" }, player.text)));
    player.seek(startAt);
  }

  show();
  return () => {
    gone = true;
    stopStream();
    stopPlayer();
  };
}
