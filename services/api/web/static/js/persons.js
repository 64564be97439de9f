// The people a tenant named: whether their voice is learned for the current speaker model, and
// the speakers of earlier meetings that sound like them, each to confirm or reject.
import { api } from "./api.js";
import { announce, clock, h } from "./dom.js";
import { t } from "./i18n.js";

function proposalView(person, proposal, onDecided) {
  const at = proposal.start ?? 0;
  const href = `#/meetings/${proposal.meeting_id}?t=${at.toFixed(2)}`;
  const status = h("p", { class: "error", role: "alert", hidden: true });
  async function decide(kind, button) {
    button.disabled = true;
    status.hidden = true;
    try {
      if (kind === "confirm") await api.confirmProposal(person.id, proposal.id);
      else await api.rejectProposal(person.id, proposal.id);
      onDecided();
      announce(t(kind === "confirm" ? "proposal_confirmed" : "proposal_rejected",
        { label: proposal.label, name: person.name }));
    } catch (exc) {
      status.textContent = t("error", { detail: exc.message });
      status.hidden = false;
      button.disabled = false;
    }
  }
  const confirm = h("button", { type: "button", class: "primary confirm",
    onclick: () => decide("confirm", confirm) }, t("proposal_confirm"));
  const reject = h("button", { type: "button", class: "reject",
    onclick: () => decide("reject", reject) }, t("proposal_reject"));
  return h("li", { class: "hit proposal", dataset: { proposal: proposal.id } },
    h("a", { href, class: "title" }, proposal.meeting_title || t("untitled")),
    h("p", { class: "muted small" },
      new Date(proposal.meeting_date).toLocaleDateString(),
      ` · ${t("proposal_speaker", { label: proposal.label })}`,
      ` · ${t("proposal_score", { score: proposal.score.toFixed(2) })}`),
    h("div", { class: "row wrap" },
      h("a", { href, class: "button jump" }, t("open_at", { time: clock(at) })), confirm, reject),
    status);
}

async function personView(person) {
  const list = h("ul", { class: "hits proposals" });
  const card = h("section", { class: "card person", dataset: { person: person.id } },
    h("h2", {}, person.name),
    h("p", { class: "muted small" }, t("person_meetings", { n: person.meetings })),
    !person.recognisable && person.voiceprints.stale > 0
      ? h("p", { class: "stale" }, t("person_stale")) : null,
    list);
  try {
    const page = await api.proposals(person.id);
    if (page.items.length) {
      list.before(h("h3", {}, t("proposals_title", { name: person.name })));
    }
    for (const proposal of page.items) {
      const item = proposalView(person, proposal, () => item.remove());
      list.append(item);
    }
  } catch (exc) {
    list.replaceChildren(h("li", { class: "error" }, t("error", { detail: exc.message })));
  }
  return card;
}

export function renderPersons(main) {
  const body = h("div", { "aria-live": "polite" }, h("p", { class: "muted" }, "…"));
  main.append(h("h1", {}, t("persons_title")), body);
  (async () => {
    try {
      const page = await api.persons();
      const cards = await Promise.all(page.items.map(personView));
      body.replaceChildren(...(cards.length ? cards : [h("p", { class: "muted" },
        t("persons_none"))]));
    } catch (exc) {
      body.replaceChildren(h("p", { class: "error", role: "alert" },
        t("error", { detail: exc.message })));
    }
  })();
}
