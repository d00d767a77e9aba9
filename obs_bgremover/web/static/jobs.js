"use strict";
// The jobs page: every job of this server, newest first, kept up to date.

const REFRESH_MS = 1500;
const table = document.querySelector("#jobs tbody");

function cell(row, content) {
  const td = row.insertCell();
  if (typeof content === "string") td.textContent = content;
  else if (content) td.append(...content);
  return td;
}

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

function button(text, className, method, path) {
  const element = document.createElement("button");
  element.type = "button";
  element.textContent = text;
  element.className = className;
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
  const parts = [];
  if (job.result_url) parts.push(link("Open", job.result_url), " ", link("Download", job.download_url), " ");
  if (job.status === "done" || job.status === "failed") {
    parts.push(button("Delete", "delete", "DELETE", `/api/jobs/${job.id}`));
  } else {
    parts.push(button("Stop", "stop", "POST", `/api/jobs/${job.id}/stop`));
  }
  return parts;
}

function showError(message) {
  const element = document.getElementById("jobs-error");
  element.textContent = message;
  element.hidden = !message;
}

let timer = null;

async function refresh() {
  clearTimeout(timer);
  const previews = document.getElementById("show-previews").checked;
  let jobs;
  try {
    jobs = await api.request("GET", previews ? "/api/jobs" : "/api/jobs?kind=video");
    showError("");
  } catch (error) {
    showError(error.message);
    timer = setTimeout(refresh, REFRESH_MS);
    return;
  }
  table.replaceChildren();
  for (const job of jobs.reverse()) {
    const row = table.insertRow();
    row.dataset.job = job.id;
    row.dataset.status = job.status;
    cell(row, new Date(job.created * 1000).toLocaleString());
    cell(row, job.clip);
    cell(row, job.kind === "preview" ? `preview at ${job.at.toFixed(2)} s` : "video");
    cell(row, job.background_label);
    cell(row, statusOf(job));
    cell(row, actionsOf(job));
  }
  document.getElementById("jobs-empty").hidden = jobs.length > 0;
  timer = setTimeout(refresh, REFRESH_MS);
}

document.getElementById("show-previews").addEventListener("change", refresh);
refresh();
