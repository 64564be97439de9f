// Boot and hash routing: #/meetings, #/meetings/<id>[?t=seconds], #/search[?q=...], #/persons.
import { forgetKey, onUnauthorised, savedKey } from "./api.js";
import { applyStatic, language, setLanguage } from "./i18n.js";
import { renderMeeting } from "./meeting.js";
import { renderMeetings } from "./meetings.js";
import { renderPersons } from "./persons.js";
import { renderSearch } from "./search.js";
import { renderSignIn } from "./signin.js";

const main = document.getElementById("main");
const nav = document.getElementById("nav");
let cleanup = () => {};

function parse(hash) {
  const [path, query = ""] = hash.replace(/^#/, "").split("?");
  return { path, params: new URLSearchParams(query) };
}

function route() {
  cleanup();
  cleanup = () => {};
  main.replaceChildren();
  const signedIn = Boolean(savedKey());
  nav.hidden = !signedIn;
  if (!signedIn) {
    cleanup = renderSignIn(main, () => route()) || cleanup;
    return;
  }
  const { path, params } = parse(location.hash);
  const meeting = path.match(/^\/meetings\/([0-9a-fA-F-]{36})$/);
  let render;
  if (meeting) render = () => renderMeeting(main, meeting[1], Number(params.get("t") ?? NaN));
  else if (path === "/search") render = () => renderSearch(main, params.get("q") || "");
  else if (path === "/persons") render = () => renderPersons(main);
  else render = () => renderMeetings(main);
  for (const link of nav.querySelectorAll("a")) {
    const current = (path || "/meetings").startsWith(link.getAttribute("href").slice(1));
    if (current) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  cleanup = render() || cleanup;
  // Move focus to the new page's heading, as a full page load would for screen readers.
  const heading = main.querySelector("h1");
  if (heading) {
    heading.tabIndex = -1;
    heading.focus({ preventScroll: true });
  }
}

const select = document.getElementById("lang-select");
select.value = language();
select.addEventListener("change", () => {
  setLanguage(select.value);
  route(); // re-render the page in the new language
});

document.getElementById("sign-out").addEventListener("click", () => {
  forgetKey();
  location.hash = "#/meetings";
  route();
});

onUnauthorised(() => {
  forgetKey();
  route();
});

window.addEventListener("hashchange", route);
applyStatic();
route();
