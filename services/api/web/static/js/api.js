// The REST API as the pages use it: the key goes in X-API-Key on every request.
import { t } from "./i18n.js";

const STORE = "minuta.key";

export function savedKey() {
  return sessionStorage.getItem(STORE) || localStorage.getItem(STORE);
}

export function saveKey(key, remember) {
  sessionStorage.setItem(STORE, key);
  if (remember) localStorage.setItem(STORE, key);
  else localStorage.removeItem(STORE);
}

export function forgetKey() {
  sessionStorage.removeItem(STORE);
  localStorage.removeItem(STORE);
}

export class ApiError extends Error {
  constructor(status, detail) {
    super(detail);
    this.status = status;
  }
}

// Listeners told when the key stops working (revoked meanwhile): the app goes to sign-in.
const unauthorised = new Set();
export function onUnauthorised(listener) {
  unauthorised.add(listener);
}

function headers(extra = {}, key = savedKey()) {
  return { "X-API-Key": key || "", ...extra };
}

async function detailOf(response) {
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
    if (Array.isArray(body.detail)) return body.detail.map((d) => d.msg).join("; ");
  } catch {
    // not JSON: fall through to the status text
  }
  return `${response.status} ${response.statusText}`;
}

export async function request(method, path, { json, key, raw = false } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(json === undefined ? {} : { "Content-Type": "application/json" }, key),
      body: json === undefined ? undefined : JSON.stringify(json),
    });
  } catch {
    throw new ApiError(0, t("network_error"));
  }
  if (response.status === 401 && key === undefined) unauthorised.forEach((f) => f());
  if (!response.ok) throw new ApiError(response.status, await detailOf(response));
  if (raw) return response;
  return response.status === 204 ? null : response.json();
}

export const api = {
  config: () => request("GET", "/app/config.json"),
  check: (key) => request("GET", "/v1/meetings?limit=1", { key }),
  meetings: (cursor) =>
    request("GET", `/v1/meetings?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  meeting: (id) => request("GET", `/v1/meetings/${id}`),
  audio: (id) => request("GET", `/v1/meetings/${id}/audio`),
  patch: (id, body) => request("PATCH", `/v1/meetings/${id}`, { json: body }),
  renameSpeaker: (id, label, name) =>
    request("PATCH", `/v1/meetings/${id}/speakers/${encodeURIComponent(label)}`, {
      json: { name },
    }),
  remove: (id) => request("DELETE", `/v1/meetings/${id}`),
  exportFile: (id, format) =>
    request("GET", `/v1/meetings/${id}/export?format=${format}`, { raw: true }),
  search: (q) => request("GET", `/v1/search?q=${encodeURIComponent(q)}&limit=20`),
  persons: () => request("GET", "/v1/persons"),
  proposals: (person) => request("GET", `/v1/persons/${person}/proposals`),
  confirmProposal: (person, id) =>
    request("POST", `/v1/persons/${person}/proposals/${id}/confirm`),
  rejectProposal: (person, id) =>
    request("POST", `/v1/persons/${person}/proposals/${id}/reject`),
};

// Upload with real progress: fetch() cannot report upload progress, XMLHttpRequest can.
export function upload(file, fields, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(fields)) {
      if (value !== "" && value !== null && value !== undefined) form.append(name, value);
    }
    form.append("file", file, file.name); // after the fields: the API checks them first
    const xhr = new XMLHttpRequest();
    xhr.open("POST", "/v1/meetings");
    xhr.setRequestHeader("X-API-Key", savedKey() || "");
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) onProgress(event.loaded / event.total);
    });
    xhr.addEventListener("load", () => {
      if (xhr.status >= 200 && xhr.status < 300) {
        onProgress(1);
        resolve(xhr.response);
        return;
      }
      if (xhr.status === 401) unauthorised.forEach((f) => f());
      const detail = xhr.response && typeof xhr.response.detail === "string"
        ? xhr.response.detail
        : `${xhr.status} ${xhr.statusText}`;
      reject(new ApiError(xhr.status, detail));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, t("network_error"))));
    xhr.send(form);
  });
}

// Server-sent events read through fetch (EventSource cannot send the API key header).
// Calls onEvent(data) per event until the stream ends; returns a function that stops it.
export function follow(id, onEvent, onEnd = () => {}) {
  const controller = new AbortController();
  (async () => {
    try {
      const response = await fetch(`/v1/meetings/${id}/events`, {
        headers: headers({ Accept: "text/event-stream" }),
        signal: controller.signal,
      });
      if (!response.ok || !response.body) return;
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data:"))
            .map((l) => l.slice(5).trimStart()).join("\n");
          if (data) onEvent(JSON.parse(data));
        }
      }
    } catch (error) {
      if (error.name !== "AbortError") console.warn("event stream stopped", error);
    } finally {
      onEnd();
    }
  })();
  return () => controller.abort();
}
