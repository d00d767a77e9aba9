"use strict";
// The jobs page: every job of this server and every upload, newest first, kept up to date.

const REFRESH_MS = 1500;
// The newest jobs shown; "Show older jobs" shows as many more. The page asked for every job at
// every refresh: a second and 760 KB at 2000 jobs.
const PAGE_SIZE = 50;
let shown = PAGE_SIZE;

function link(text, href) {
  const a = document.createElement("a");
  a.textContent = text;
  a.href = href;
  return a;
}

function statusOf(job) {
  const status = document.createElement("span");
  status.className = `status ${job.status}`;
  status.textContent = job.status;
  const parts = [status];
  if (job.status === "running") parts.push(` ${describeProgress(job)}`);
  if (job.error) {
    const error = document.createElement("p");
    // A stop is the user's own doing, in grey as its status is: only a failure is in red.
    error.className = job.status === "failed" ? "error" : "note";
    error.textContent = job.error;
    parts.push(error);
  }
  return parts;
}

// A button that asks the server for something, then refreshes the page. With `question` (an
// async function, so that it is put with what the server knows at the click), it asks the
// user first.
function button(text, className, label, method, path, question = null) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.className = className;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", async () => {
    if (question && !window.confirm(await question())) return;
    showActionError("");
    try {
      await api.request(method, path);
    } catch (error) {
      showActionError(error.message);
    }
    refresh();
  });
  return element;
}

function actionsOf(job) {
  const which = `job ${job.id} (${job.clip})`;
  const parts = [];
  if (job.result_url) {
    const open = link("Open", job.result_url);
    open.setAttribute("aria-label", `Open the result of ${which}`);
    const download = link("Download", job.download_url);
    download.setAttribute("aria-label", `Download the result of ${which}`);
    parts.push(open, " ", download, " ");
  }
  const path = `/api/jobs/${encodeURIComponent(job.id)}`;
  if (FINISHED.includes(job.status)) {
    // A render's video goes with it, minutes of work: asked first, as an upload is. A
    // preview, failed or stopped job loses nothing the page cannot make again in a second.
    const question = job.kind === "video" && job.result_url
      ? async () => `Delete the render of "${job.clip}" with ${job.background_label}? ` +
        "Its video is deleted with it."
      : null;
    parts.push(button("Delete", "delete", `Delete ${which}`, "DELETE", path, question));
  } else {
    parts.push(button("Stop", "stop", `Stop ${which}`, "POST", `${path}/stop`));
  }
  return parts;
}

function plural(count, word) {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

// What deleting an upload takes with it, in words, as the server knows it at the click: it
// deletes every job made from it or using it as background, finished ones only (it refuses
// while one is unfinished).
async function deleteQuestion(upload) {
  const uses = upload.purpose === "clip" ? "made from it" : "using it as background";
  const question = `Delete the ${upload.purpose} "${upload.name}"?\n` +
                   `The jobs ${uses} are deleted too, with their results`;
  let users;
  try {
    users = await api.request("GET", `/api/jobs?upload=${encodeURIComponent(upload.id)}`);
  } catch (error) {
    return `${question}.`;
  }
  if (users.length === 0) return `${question}: none at the moment.`;
  const renders = users.filter((job) => job.kind === "video").length;
  const counts = [[renders, "render"], [users.length - renders, "preview"]]
    .filter(([count]) => count > 0).map(([count, word]) => plural(count, word));
  return `${question}: ${counts.join(" and ")}.`;
}

function uploadActionsOf(upload) {
  const path = `/api/uploads/${encodeURIComponent(upload.id)}`;
  return [button("Delete", "delete", `Delete upload ${upload.id} (${upload.name})`, "DELETE",
                 path, () => deleteQuestion(upload))];
}

// The error line says what went wrong with the last refresh (until one succeeds) and with the
// last click (until the next one): a refresh right after a refused delete must not wipe out
// why it was refused.
const errors = { refresh: "", action: "" };

function showErrors() {
  const element = document.getElementById("jobs-error");
  const message = [errors.action, errors.refresh].filter(Boolean).join(" ");
  if (element.textContent === message) return;  // the same words, not announced again
  element.textContent = message;
  element.hidden = !message;
}

function showError(message) {
  errors.refresh = message;
  showErrors();
}

function showActionError(message) {
  errors.action = message;
  showErrors();
  // The button may be far below the line: its answer is brought into view.
  if (message) document.getElementById("jobs-error").scrollIntoView({ block: "nearest" });
}

// A table updated in place, row by row (one per item, found by its id), where a cell is
// redrawn only when what it shows has changed: a refresh leaves alone the rows, links and
// buttons that have not, so that keyboard focus, a screen reader's place and a click on its
// way stay where they are. `key` names the row's data attribute holding the id (data-job),
// `columns` say what each column shows of an item, and how, where it is more than text, and
// `marks` gives more data attributes of a row (its status), for the style and the tests.
function liveTable(id, key, columns, marks = () => ({})) {
  const body = document.querySelector(`#${id} tbody`);
  const empty = document.getElementById(`${id}-empty`);

  function rowFor(item) {
    let row = body.querySelector(`tr[data-${key}="${CSS.escape(item.id)}"]`);
    if (!row) {
      row = document.createElement("tr");
      row.dataset[key] = item.id;
      for (const _ of columns) row.insertCell();
    }
    Object.assign(row.dataset, marks(item));
    columns.forEach(({ shows, draw }, column) => {
      const td = row.cells[column];
      const shown = JSON.stringify(shows(item));
      if (td.dataset.shown === shown) return;
      td.dataset.shown = shown;
      const focused = td.contains(document.activeElement);
      if (draw) td.replaceChildren(...draw(item));
      else td.textContent = shows(item);
      // Stop became Delete under the keyboard: the focus goes on to the new button.
      if (focused) td.querySelector("button")?.focus();
    });
    return row;
  }

  // Show these items, in this order.
  return function show(items) {
    const rows = items.map(rowFor);
    const wanted = new Set(rows);
    for (const row of [...body.rows]) if (!wanted.has(row)) row.remove();
    // Put the rows in order, moving only those out of place (a moved row would lose the focus).
    let next = body.firstElementChild;
    for (const row of rows) {
      if (row === next) next = next.nextElementSibling;
      else body.insertBefore(row, next);
    }
    empty.hidden = items.length > 0;
  };
}

const showJobs = liveTable("jobs", "job", [
  { shows: (job) => new Date(job.created * 1000).toLocaleString() },
  { shows: (job) => job.clip },
  { shows: (job) => (job.kind === "preview" ? `preview at ${job.at.toFixed(2)} s` : "video") },
  { shows: (job) => job.background_label },
  { shows: (job) => [job.status, job.status === "running" ? describeProgress(job) : "",
                     job.error], draw: statusOf },
  { shows: (job) => [job.status, job.result_url, job.download_url], draw: actionsOf },
], (job) => ({ status: job.status }));

const showUploads = liveTable("uploads", "upload", [
  { shows: (upload) => new Date(upload.created * 1000).toLocaleString() },
  { shows: (upload) => upload.name },
  { shows: (upload) => `${upload.kind} ${upload.purpose}` },  // "video clip", "image background"
  { shows: (upload) => megabytes(upload.bytes) },
  { shows: (upload) => (upload.duration === null ? "" : `${upload.duration.toFixed(1)} s`) },
  // What the button says never changes (the question is put at the click): drawn once.
  { shows: (upload) => [upload.id, upload.name], draw: uploadActionsOf },
]);

let timer = null;
let asked = 0;  // refreshes started: an older answer arriving late is not drawn over a newer one

async function refresh() {
  clearTimeout(timer);
  const mine = ++asked;
  const previews = document.getElementById("show-previews").checked;
  // One more than are shown: whether there are older ones.
  const query = new URLSearchParams({ limit: shown + 1 });
  if (!previews) query.set("kind", "video");
  let jobs, uploads;
  try {
    [jobs, uploads] = await Promise.all([api.request("GET", `/api/jobs?${query}`),
                                         api.request("GET", "/api/uploads")]);
    if (mine !== asked) return;
    showError("");
  } catch (error) {
    if (mine !== asked) return;
    showError(error.message);
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  document.getElementById("older-jobs").hidden = jobs.length <= shown;
  // Both lists come oldest first: shown newest first.
  showJobs(jobs.slice(-shown).reverse());
  showUploads(uploads.reverse());
  timer = setTimeout(refresh, REFRESH_MS);
}

document.getElementById("show-previews").addEventListener("change", refresh);
document.getElementById("older-jobs").addEventListener("click", () => {
  shown += PAGE_SIZE;
  refresh();
});
refresh();
