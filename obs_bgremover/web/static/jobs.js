"use strict";
// The jobs page: every job of this server, newest first, kept up to date.

const REFRESH_MS = 1500;
const table = document.querySelector("#jobs tbody");

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
    error.className = "error";
    error.textContent = job.error;
    parts.push(error);
  }
  return parts;
}

function button(text, className, label, method, path) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.className = className;
  element.setAttribute("aria-label", label);
  element.addEventListener("click", async () => {
    try {
      await api.request(method, path);
    } catch (error) {
      showError(error.message);
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
  if (job.status === "done" || job.status === "failed") {
    parts.push(button("Delete", "delete", `Delete ${which}`, "DELETE", path));
  } else {
    parts.push(button("Stop", "stop", `Stop ${which}`, "POST", `${path}/stop`));
  }
  return parts;
}

function showError(message) {
  const element = document.getElementById("jobs-error");
  element.textContent = message;
  element.hidden = !message;
}

// The table is updated in place, row by row (one per job, found by its id), and a cell is
// redrawn only when what it shows has changed: a refresh leaves alone the rows, links and
// buttons that have not, so that keyboard focus, a screen reader's place and a click on its
// way stay where they are.
const COLUMNS = [  // what each column shows of a job, and how, where it is more than text
  { shows: (job) => new Date(job.created * 1000).toLocaleString() },
  { shows: (job) => job.clip },
  { shows: (job) => (job.kind === "preview" ? `preview at ${job.at.toFixed(2)} s` : "video") },
  { shows: (job) => job.background_label },
  { shows: (job) => [job.status, job.status === "running" ? describeProgress(job) : "",
                     job.error], draw: statusOf },
  { shows: (job) => [job.status, job.result_url, job.download_url], draw: actionsOf },
];

function rowFor(job) {
  let row = table.querySelector(`tr[data-job="${CSS.escape(job.id)}"]`);
  if (!row) {
    row = document.createElement("tr");
    row.dataset.job = job.id;
    for (const _ of COLUMNS) row.insertCell();
  }
  row.dataset.status = job.status;
  COLUMNS.forEach(({ shows, draw }, column) => {
    const td = row.cells[column];
    const shown = JSON.stringify(shows(job));
    if (td.dataset.shown === shown) return;
    td.dataset.shown = shown;
    const focused = td.contains(document.activeElement);
    if (draw) td.replaceChildren(...draw(job));
    else td.textContent = shows(job);
    // Stop became Delete under the keyboard: the focus goes on to the new button.
    if (focused) td.querySelector("button")?.focus();
  });
  return row;
}

let timer = null;
let asked = 0;  // refreshes started: an older answer arriving late is not drawn over a newer one

async function refresh() {
  clearTimeout(timer);
  const mine = ++asked;
  const previews = document.getElementById("show-previews").checked;
  let jobs;
  try {
    jobs = await api.request("GET", previews ? "/api/jobs" : "/api/jobs?kind=video");
    if (mine !== asked) return;
    showError("");
  } catch (error) {
    if (mine !== asked) return;
    showError(error.message);
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  const rows = jobs.reverse().map(rowFor);  // newest first
  const wanted = new Set(rows);
  for (const row of [...table.rows]) if (!wanted.has(row)) row.remove();
  // Put the rows in order, moving only those out of place (a moved row would lose the focus).
  let next = table.firstElementChild;
  for (const row of rows) {
    if (row === next) next = next.nextElementSibling;
    else table.insertBefore(row, next);
  }
  document.getElementById("jobs-empty").hidden = jobs.length > 0;
  timer = setTimeout(refresh, REFRESH_MS);
}

document.getElementById("show-previews").addEventListener("change", refresh);
refresh();
