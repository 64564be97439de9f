// Search across meetings by meaning; each hit opens its meeting at that moment.
import { api } from "./api.js";
import { clock, h } from "./dom.js";
import { t } from "./i18n.js";

async function titles() {
  const names = new Map();
  try {
    const page = await api.meetings();
    for (const m of page.items) names.set(m.id, m.title || m.audio.filename);
  } catch {
    // titles are a nicety: hits still link to their meetings
  }
  return names;
}

function hitView(hit, names) {
  const at = hit.start ?? 0;
  const href = `#/meetings/${hit.meeting_id}?t=${at.toFixed(2)}`;
  return h("li", { class: "hit" },
    h("a", { href, class: "title" }, names.get(hit.meeting_id) || t("untitled")),
    h("p", { class: "muted small" },
      hit.start === null ? t(`kind_${hit.kind}`) : clock(hit.start),
      hit.speaker ? ` · ${hit.speaker}` : "",
      hit.start === null ? "" : ` · ${t(`kind_${hit.kind}`)}`),
    h("blockquote", {}, hit.text),
    hit.start === null ? null
      : h("a", { href, class: "button jump" }, t("open_at", { time: clock(hit.start) })));
}

export function renderSearch(main, initial) {
  const input = h("input", { id: "q", type: "search", value: initial, required: true,
    placeholder: t("search_placeholder"), autocomplete: "off" });
  const results = h("div", { "aria-live": "polite" });
  const button = h("button", { type: "submit", class: "primary" }, t("search_button"));

  async function run(q) {
    results.replaceChildren(h("p", { class: "muted" }, "…"));
    button.disabled = true;
    try {
      const [answer, names] = await Promise.all([api.search(q), titles()]);
      results.replaceChildren(
        h("p", { class: "muted count" }, answer.hits.length
          ? t("search_count", { n: answer.hits.length }) : t("search_none")),
        h("ol", { class: "hits" }, answer.hits.map((hit) => hitView(hit, names))));
    } catch (exc) {
      results.replaceChildren(h("p", { class: "error", role: "alert" },
        t("error", { detail: exc.message })));
    } finally {
      button.disabled = false;
    }
  }

  main.append(
    h("h1", {}, t("search_title")),
    h("form", { class: "card search", role: "search", onsubmit: (event) => {
      event.preventDefault();
      const q = input.value.trim();
      if (!q) return;
      // Kept in the address, so Back returns to these results; hashchange runs the search.
      const target = `#/search?q=${encodeURIComponent(q)}`;
      if (location.hash === target) run(q);
      else location.hash = target;
    } },
    h("label", { for: "q" }, t("search_label")),
    h("div", { class: "row" }, input, button)),
    results);
  if (initial) run(initial);
}
