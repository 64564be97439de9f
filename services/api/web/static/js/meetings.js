// The meeting list with live progress, and the uploader above it.
import { api, follow } from "./api.js";
import { h } from "./dom.js";
import { language, t } from "./i18n.js";
import { isTerminal, progressView } from "./progress.js";
import { renderUploader } from "./upload.js";

function when(iso) {
  return new Date(iso).toLocaleString(language(), { dateStyle: "medium", timeStyle: "short" });
}

export function renderMeetings(main) {
  const streams = new Map(); // meeting id -> stop function
  const list = h("ul", { class: "meetings" });
  const empty = h("p", { class: "muted" }, t("no_meetings"));
  const more = h("button", { type: "button", hidden: true }, t("load_more"));
  const error = h("p", { class: "error", role: "alert" });
  const shown = new Set(); // an upload may land in the first page too: never show it twice
  let cursor = null;

  function item(meeting) {
    shown.add(meeting.id);
    const title = meeting.title || meeting.audio.filename || t("untitled");
    const view = progressView(title);
    view.update(meeting);
    const li = h("li", { class: "meeting", dataset: { id: meeting.id } },
      h("a", { href: `#/meetings/${meeting.id}`, class: "title" }, title),
      h("span", { class: "muted small" }, `${t("created")} ${when(meeting.created_at)}`),
      view.root);
    if (!isTerminal(meeting.status)) {
      streams.set(meeting.id, follow(meeting.id, (event) => view.update(event),
        () => streams.delete(meeting.id)));
    }
    return li;
  }

  async function load() {
    try {
      const page = await api.meetings(cursor);
      list.append(...page.items.filter((m) => !shown.has(m.id)).map(item));
      cursor = page.next_cursor;
      more.hidden = !cursor;
      empty.hidden = list.children.length > 0;
    } catch (exc) {
      error.textContent = t("error", { detail: exc.message });
    }
  }
  more.addEventListener("click", load);

  const section = h("section", { class: "card", "aria-label": t("meetings_title") },
    error, empty, list, more);
  const heading = h("h1", {}, t("meetings_title"));
  main.append(heading);
  api.config().then((config) => {
    heading.after(renderUploader(config, (meeting) => {
      empty.hidden = true;
      if (!shown.has(meeting.id)) list.prepend(item(meeting));
    }));
  }).catch((exc) => { error.textContent = t("error", { detail: exc.message }); });
  main.append(section);
  load();
  return () => streams.forEach((stop) => stop());
}
