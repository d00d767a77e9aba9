"use strict";
// The page's steps: upload a clip, pick a background (each pick renders a preview frame),
// render the clip with live progress, play and download the result. Where the page stands (the
// clip, the background, the frame, the render) is kept in its address, so a reload, or the
// address opened again, comes back to it, a render under way included.

const $ = (id) => document.getElementById(id);
const state = { upload: null, background: null, preview: 0 };

function remember(changes) {
  const saved = new URLSearchParams(location.hash.slice(1));
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) saved.delete(key); else saved.set(key, value);
  }
  history.replaceState(null, "", `#${saved}`);
}

function show(id, text, isError = false) {
  const element = $(id);
  element.textContent = text;
  element.classList.toggle("error", isError);
  element.hidden = !text;
}

// -- 1. upload ----------------------------------------------------------------------------

async function uploadClip(file) {
  show("upload-error", "");
  const limit = Number($("dropzone").dataset.maxBytes);
  if (file.size > limit) {
    show("upload-error", `"${file.name}" is ${megabytes(file.size)}, more than this server ` +
      `takes (${megabytes(limit)}). Cut it shorter and try again.`, true);
    return;
  }
  setProgress($("upload-progress"), 0);
  show("upload-status", `Uploading ${file.name}…`);
  let upload;
  try {
    upload = await api.upload(file, "clip", (fraction) => {
      setProgress($("upload-progress"), fraction);
      show("upload-status", `Uploading ${file.name}… ${Math.floor(fraction * 100)} %`);
    });
  } catch (error) {
    $("upload-progress").hidden = true;
    show("upload-status", "");
    show("upload-error", error.message, true);
    return;
  }
  remember({ upload: upload.id, at: null, render: null });
  showClip(upload, 0);
  $("result-step").hidden = true;
  if (state.background) preview();
}

function showClip(upload, at) {
  state.upload = upload;
  $("dropzone").classList.add("compact");
  $("drop-prompt").textContent = "Drop another video here";
  const sound = upload.audio ? "with sound" : "no sound";
  const length = upload.duration === null ? "length unknown" : `${upload.duration.toFixed(1)} s`;
  show("upload-status", `${upload.name}: ${upload.width}x${upload.height}, ` +
    `${length}, ${Math.round(upload.rate)} fps, ${sound}`);
  show("clip-notes", upload.notes.join(" "));
  const slider = $("at");
  slider.step = (1 / upload.rate).toFixed(4);
  slider.max = Math.max(0, (upload.render_seconds || 0) - 1 / upload.rate).toFixed(4);
  slider.value = at;
  showFrame();
  $("background-step").hidden = false;
  $("render-step").hidden = false;
}

function showFrame() {
  const at = Number($("at").value);
  $("at-label").textContent = `${at.toFixed(2)} s`;
  $("frame").src = `${state.upload.frame_url}?at=${at}`;
}

// -- 2. backgrounds and previews ----------------------------------------------------------

function select(background, tile) {
  state.background = background;
  remember({ background });
  for (const other of document.querySelectorAll(".tile")) other.classList.remove("selected");
  tile.classList.add("selected");
  $("render").disabled = false;
  preview();
}

async function preview() {
  const mine = ++state.preview;  // a later pick wins over a slower earlier one
  const started = performance.now();
  show("preview-status", "Rendering a preview…");
  $("background-step").dataset.preview = "running";
  let job;
  try {
    job = await api.request("POST", "/api/jobs", {
      upload: state.upload.id, kind: "preview", background: state.background,
      at: Number($("at").value),
    });
    job = await api.waitForJob(job.id);
  } catch (error) {
    job = { status: "failed", error: error.message };
  }
  if (mine !== state.preview) return;
  if (job.status === "failed") {
    show("preview-status", job.error, true);
    $("background-step").dataset.preview = "failed";
    return;
  }
  $("preview").src = job.result_url;
  $("alpha").src = job.cutout_url;
  $("preview-caption").textContent = `With ${job.background_label}`;
  $("render-background").textContent = `with ${job.background_label}`;
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  show("preview-status", `Preview ready in ${seconds} s.`);
  $("background-step").dataset.preview = "done";
}

async function uploadBackground(file) {
  show("preview-status", `Uploading ${file.name}…`);
  try {
    const upload = await api.upload(file, "background", (fraction) =>
      show("preview-status", `Uploading ${file.name}… ${Math.floor(fraction * 100)} %`));
    select(`upload:${upload.id}`, $("own"));
  } catch (error) {
    show("preview-status", error.message, true);
  }
}

// -- 3. render, 4. result -----------------------------------------------------------------

async function render() {
  $("render").disabled = true;
  $("result-step").hidden = true;
  setProgress($("render-progress"), 0);
  show("render-status", "Queuing the render…");
  let job;
  try {
    job = await api.request("POST", "/api/jobs", {
      upload: state.upload.id, kind: "video", background: state.background });
  } catch (error) {
    job = { status: "failed", error: error.message };
  }
  if (job.id) remember({ render: job.id });
  await follow(job);
}

async function follow(job) {
  $("render").disabled = true;
  setProgress($("render-progress"), job.progress || 0);
  try {
    if (job.status !== "failed") job = await api.waitForJob(job.id, (update) => {
      if (update === null) {
        show("render-status", "The server cannot be reached; asking again…");
        return;
      }
      setProgress($("render-progress"), update.progress);
      show("render-status", describeProgress(update));
    });
  } catch (error) {
    job = { status: "failed", error: error.message };
  }
  $("render").disabled = false;
  if (job.status === "failed") {
    show("render-status", job.error, true);
    return;
  }
  show("render-status", `Done: ${describeProgress(job)}.`);
  $("result").src = job.result_url;
  $("download").href = job.download_url;
  $("result-step").hidden = false;
}

// -- coming back: a reload, or the address opened again ------------------------------------

function tileFor(background) {
  if (background.startsWith("color:")) {
    $("colour").value = background.slice("color:".length);
    return $("colour-tile");
  }
  if (background.startsWith("upload:")) return $("own");
  return document.querySelector(`button.tile[data-background="${CSS.escape(background)}"]`);
}

async function restore() {
  const saved = new URLSearchParams(location.hash.slice(1));
  if (!saved.get("upload")) return;
  try {
    showClip(await api.request("GET", `/api/uploads/${encodeURIComponent(saved.get("upload"))}`),
      Number(saved.get("at") || 0));
  } catch (error) {  // the clip was deleted meanwhile: the page starts afresh
    history.replaceState(null, "", location.pathname);
    return;
  }
  const background = saved.get("background");
  const tile = background && tileFor(background);
  if (tile) select(background, tile);
  if (!saved.get("render")) return;
  let job;
  try {
    job = await api.request("GET", `/api/jobs/${encodeURIComponent(saved.get("render"))}`);
  } catch (error) {  // deleted from the jobs page meanwhile
    remember({ render: null });
    return;
  }
  await follow(job);
}

// -- wiring -------------------------------------------------------------------------------

$("choose").addEventListener("click", () => $("clip-file").click());
$("clip-file").addEventListener("change", (event) => {
  if (event.target.files.length) uploadClip(event.target.files[0]);
  event.target.value = "";  // so that choosing the same file again counts
});
const dropzone = $("dropzone");
dropzone.addEventListener("dragover", (event) => {
  event.preventDefault();
  dropzone.classList.add("over");
});
dropzone.addEventListener("dragleave", () => dropzone.classList.remove("over"));
dropzone.addEventListener("drop", (event) => {
  event.preventDefault();
  dropzone.classList.remove("over");
  if (event.dataTransfer.files.length) uploadClip(event.dataTransfer.files[0]);
});

for (const tile of document.querySelectorAll("button.tile[data-background]")) {
  if (tile.id !== "own") tile.addEventListener("click", () => select(tile.dataset.background, tile));
}
$("own").addEventListener("click", () => $("own-file").click());
$("own-file").addEventListener("change", (event) => {
  if (event.target.files.length) uploadBackground(event.target.files[0]);
  event.target.value = "";
});
$("colour").addEventListener("change", (event) =>
  select(`color:${event.target.value}`, $("colour-tile")));
$("at").addEventListener("input", () => {
  $("at-label").textContent = `${Number($("at").value).toFixed(2)} s`;
});
$("at").addEventListener("change", () => {
  remember({ at: $("at").value });
  showFrame();
  if (state.background) preview();
});
$("render").addEventListener("click", render);
restore();
