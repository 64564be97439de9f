// Sign-in with the tenant's API key; kept for the browser session, or on the device if asked.
import { api, ApiError, saveKey } from "./api.js";
import { h, nextId } from "./dom.js";
import { t } from "./i18n.js";

export function renderSignIn(main, onSignedIn) {
  const keyId = nextId("key");
  const errorId = nextId("err");
  const input = h("input", {
    id: keyId, type: "password", autocomplete: "current-password", required: true,
    spellcheck: "false", "aria-describedby": errorId,
  });
  const remember = h("input", { type: "checkbox", id: nextId("remember") });
  const error = h("p", { id: errorId, class: "error", role: "alert" });
  const button = h("button", { type: "submit", class: "primary" }, t("signin_button"));

  async function submit(event) {
    event.preventDefault();
    const key = input.value.trim();
    error.textContent = "";
    if (!key) {
      error.textContent = t("signin_empty");
      input.focus();
      return;
    }
    button.disabled = true;
    try {
      await api.check(key);
      saveKey(key, remember.checked);
      onSignedIn();
    } catch (exc) {
      error.textContent = exc instanceof ApiError && exc.status === 401
        ? t("signin_bad_key")
        : exc.message;
      input.setAttribute("aria-invalid", "true");
      input.focus();
    } finally {
      button.disabled = false;
    }
  }

  main.append(
    h("section", { class: "card narrow" },
      h("h1", {}, t("signin_title")),
      h("p", { class: "muted" }, t("signin_intro")),
      h("form", { onsubmit: submit, novalidate: true },
        h("label", { for: keyId }, t("api_key")),
        input,
        h("label", { class: "check", for: remember.id }, remember, t("remember")),
        error,
        button,
      ),
    ),
  );
}
