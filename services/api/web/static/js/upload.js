// Drag-and-drop / file-picker uploads, several at once, each with its own progress bar.
import { ApiError, upload } from "./api.js";
import { announce, bytes, h, nextId } from "./dom.js";
import { t } from "./i18n.js";

function looksLikeMedia(file, extensions) {
  const name = file.name.toLowerCase();
  if (extensions.some((ext) => name.endsWith(ext))) return true;
  return file.type.startsWith("audio/") || file.type.startsWith("video/");
}

// Why this file is refused before sending it, or null. The server checks again by content.
function refusal(file, config) {
  const formats = config.supported;
  if (file.size === 0) return t("upload_empty", { name: file.name });
  if (file.size > config.max_upload_bytes) {
    return t("upload_too_large", {
      name: file.name, size: bytes(file.size), limit: bytes(config.max_upload_bytes),
    });
  }
  if (!looksLikeMedia(file, config.accepted_extensions)) {
    return t("upload_wrong_type", { name: file.name, formats });
  }
  return null;
}

function stem(name) {
  return name.replace(/\.[^.]+$/, "");
}

export function renderUploader(config, onUploaded) {
  const ids = { title: nextId("title"), lang: nextId("lang"), speakers: nextId("spk"),
    files: nextId("files") };
  const title = h("input", { id: ids.title, type: "text", maxlength: "500" });
  const lang = h("select", { id: ids.lang },
    h("option", { value: "" }, t("language_auto")),
    h("option", { value: "en" }, "English"),
    h("option", { value: "ru" }, "Русский"),
  );
  const speakers = h("input", { id: ids.speakers, type: "number", min: "1", max: "64",
    inputmode: "numeric" });
  const picker = h("input", { id: ids.files, type: "file", multiple: true,
    accept: [...config.accepted_extensions, "audio/*", "video/*"].join(","),
    class: "visually-hidden" });
  const queue = h("ul", { class: "uploads", "aria-label": t("upload_title") });

  function row(file) {
    const bar = h("progress", { max: 1, value: 0,
      "aria-label": t("uploading", { name: file.name }) });
    const message = h("span", { class: "message" });
    const dismiss = h("button", { type: "button", class: "link", hidden: true,
      onclick: () => item.remove() }, t("dismiss"));
    const item = h("li", { class: "upload", dataset: { file: file.name } },
      h("span", { class: "name" }, file.name), h("span", { class: "size muted" }, bytes(file.size)),
      bar, message, dismiss);
    return { item, bar, message, dismiss };
  }

  async function send(file) {
    const view = row(file);
    queue.append(view.item);
    const refused = refusal(file, config);
    if (refused) {
      view.item.classList.add("failed");
      view.bar.hidden = true;
      view.message.textContent = refused;
      view.message.setAttribute("role", "alert");
      view.dismiss.hidden = false;
      return;
    }
    try {
      const meeting = await upload(file, {
        title: title.value.trim() || stem(file.name),
        language: lang.value,
        num_speakers: speakers.value,
      }, (fraction) => {
        view.bar.value = fraction;
        view.bar.setAttribute("aria-valuetext", `${Math.round(fraction * 100)}%`);
      });
      view.item.classList.add("done");
      view.message.textContent = t("upload_done", { name: file.name });
      announce(view.message.textContent);
      onUploaded(meeting);
      setTimeout(() => view.item.remove(), 4000);
    } catch (exc) {
      view.item.classList.add("failed");
      view.bar.hidden = true;
      const detail = exc instanceof ApiError ? exc.message : String(exc);
      view.message.textContent = t("upload_failed", { name: file.name, detail });
      view.message.setAttribute("role", "alert");
      view.dismiss.hidden = false;
    }
  }

  function sendAll(files) {
    for (const file of files) send(file);
  }

  picker.addEventListener("change", () => {
    sendAll([...picker.files]);
    picker.value = "";
  });
  const zone = h("div", { class: "drop" },
    h("p", {}, t("upload_drop"), " ",
      h("label", { for: ids.files, class: "button", tabindex: "0", role: "button",
        onkeydown: (event) => {
          if (event.key === "Enter" || event.key === " ") {
            event.preventDefault();
            picker.click();
          }
        } }, t("upload_pick"))),
    picker,
    h("p", { class: "muted small" }, t("upload_hint", {
      size: bytes(config.max_upload_bytes), formats: config.supported })),
  );
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    zone.classList.remove("over");
    sendAll([...event.dataTransfer.files]);
  });

  return h("section", { class: "card", "aria-labelledby": "upload-heading" },
    h("h2", { id: "upload-heading" }, t("upload_title")),
    zone,
    h("div", { class: "fields" },
      h("div", {}, h("label", { for: ids.title }, t("upload_title_field")), title),
      h("div", {}, h("label", { for: ids.lang }, t("upload_language_field")), lang),
      h("div", {}, h("label", { for: ids.speakers }, t("upload_speakers_field")), speakers),
    ),
    queue,
  );
}
