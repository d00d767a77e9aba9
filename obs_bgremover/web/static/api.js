"use strict";
// The JSON API as the pages use it; docs/web.md describes the same calls for scripts.

const POLL_MS = 400;
// A job's statuses that are its last: it has a result, or an error saying why not.
const FINISHED = ["done", "failed", "stopped"];
// How often a server that cannot be reached is asked again (restarting, behind a proxy).
const LOST_POLL_MS = 2000;

// No answer from the server, or a proxy's 502/503/504 instead of one: it may be back soon.
class Unreachable extends Error {
  constructor() {
    super("the server cannot be reached: is it still running?");
  }
}

// The API's answer to a request it refused: its sentence, and its HTTP status for the pages to
// tell one refusal from another.
class Refused extends Error {
  constructor(message, status) {
    super(message);
    this.status = status;
  }
}

async function problem(response) {
  // Every error of the API answers {"detail": "what is wrong"}.
  try {
    const body = await response.json();
    if (typeof body.detail === "string") return body.detail;
  } catch (ignored) { /* not JSON: fall through */ }
  return `the server answered ${response.status} ${response.statusText}`;
}

const api = {
  async request(method, path, body) {
    const options = { method };
    if (body !== undefined) {
      options.headers = { "Content-Type": "application/json" };
      options.body = JSON.stringify(body);
    }
    let response;
    try {
      response = await fetch(path, options);
    } catch (error) {
      throw new Unreachable();
    }
    if ([502, 503, 504].includes(response.status)) throw new Unreachable();
    if (!response.ok) throw new Refused(await problem(response), response.status);
    return response.status === 204 ? null : response.json();
  },

  // Send a file as the request body; onProgress gets the fraction sent. XMLHttpRequest, not
  // fetch: only it reports upload progress.
  // An abort of `signal` (a newer clip dropped meanwhile) stops sending: the server keeps
  // nothing of a cut-off upload.
  upload(file, purpose, onProgress, signal = null) {
    return new Promise((resolve, reject) => {
      const request = new XMLHttpRequest();
      signal?.addEventListener("abort", () => request.abort());
      request.onabort = () => reject(new DOMException("the upload was replaced", "AbortError"));
      const query = new URLSearchParams({ name: file.name, purpose });
      request.open("POST", `/api/uploads?${query}`);
      request.setRequestHeader("Content-Type", "application/octet-stream");
      request.responseType = "json";
      request.upload.onprogress = (event) => {
        if (event.lengthComputable) onProgress(event.loaded / event.total);
      };
      request.onload = () => {
        if (request.status === 201) resolve(request.response);
        else reject(new Error(request.response && request.response.detail
          ? request.response.detail : `the server answered ${request.status}`));
      };
      request.onerror = () => reject(new Error(
        "the upload was cut off: is the server still running?"));
      request.send(file);
    });
  },

  // Poll a job until it is done or failed; onUpdate sees every state on the way, and null
  // while the server cannot be reached. A restarting server queues its running renders again
  // and finishes them, so the job is asked for again rather than taken for failed. Once
  // stillWanted() says no (the page has moved on: a newer pick, another clip), it stops asking
  // and answers null, without a word to onUpdate.
  async waitForJob(id, onUpdate = () => {}, stillWanted = () => true) {
    for (;;) {
      if (!stillWanted()) return null;
      let job = null;
      try {
        job = await api.request("GET", `/api/jobs/${id}`);
      } catch (error) {
        if (!(error instanceof Unreachable)) throw error;
      }
      if (!stillWanted()) return null;
      onUpdate(job);
      if (job !== null && FINISHED.includes(job.status)) return job;
      await new Promise((wake) => setTimeout(wake, job === null ? LOST_POLL_MS : POLL_MS));
    }
  },

  // Stop a job nobody waits for any more, without waiting for the answer: one that has
  // finished meanwhile (409) or was deleted (404) is just as well.
  stopJob(id) {
    api.request("POST", `/api/jobs/${encodeURIComponent(id)}/stop`).catch(() => {});
  },
};

// "42 % · 126 of 300 frames · about 12 s left"
function describeProgress(job) {
  if (job.status === "queued") return "Waiting for a render worker…";
  const parts = [`${Math.floor(job.progress * 100)} %`,
                 `${job.frames_done} of ${job.frames_total} frames`];
  if (job.seconds_left !== null) parts.push(`about ${Math.ceil(job.seconds_left)} s left`);
  return parts.join(" · ");
}

function setProgress(element, fraction) {
  element.hidden = false;
  element.querySelector(".fill").style.width = `${Math.round(fraction * 100)}%`;
}

// A size in MB (of 1,048,576 bytes, as the server's limit), or in KB below 0.1 MB: a picture
// of a few KB read "0.0 MB".
function megabytes(bytes) {
  if (bytes < 1048576 / 10) return `${Math.max(1, Math.round(bytes / 1024))} KB`;
  return `${(bytes / 1048576).toFixed(1)} MB`;
}
