"use strict";
// The page's steps: upload a clip, pick a background (each pick renders a preview frame),
// render the clip with live progress, play and download the result. Where the page stands (the
// clip, the background, the frame, the render) is kept in its address, so a reload, or the
// address opened again, comes back to it, a render under way included.
//
// Work the page has moved on from is dropped, never shown: each upload, preview and render
// followed has a number (state.uploads, .preview, .render), and only the latest one of each
// may touch the page. A newer pick stops the preview it replaces on the server; a new clip
// stops following the render of the previous one (which goes on, on the jobs page).

const $ = (id) => document.getElementById(id);
const state = {
  upload: null, background: null,
  uploads: 0,         // clip uploads started: only the latest one is shown
  uploading: null,    // the AbortController of the clip upload under way
  preview: 0,         // previews asked for: a later pick wins over a slower earlier one
  previewJob: null,   // the id of the preview job under way, stopped when a newer one replaces it
  render: 0,          // renders followed: a new render or a new clip ends following the last one
  rendering: false,   // whether the render followed is unfinished: Render stays off meanwhile
  keyboard: false,    // whether Render was pressed from the keyboard: its focus goes to Stop
};

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

const FIRST_PROMPT = $("drop-prompt").textContent;  // before a clip: "Drop another" after

// Why a file is too large to send, or "" if it is not: said before sending any of it.
function tooLarge(file, advice) {
  const limit = Number($("dropzone").dataset.maxBytes);
  if (file.size <= limit) return "";
  return `"${file.name}" is ${megabytes(file.size)}, more than this server takes ` +
    `(${megabytes(limit)}). ${advice}`;
}

async function uploadClip(file) {
  // Refused before it replaces anything: an upload under way goes on (it went on unseen, with
  // nothing left to stop it).
  const refused = tooLarge(file, "Cut it shorter and try again.");
  if (refused) {
    show("upload-error", refused, true);
    return;
  }
  const mine = ++state.uploads;  // a clip dropped during another one's upload replaces it
  const current = () => mine === state.uploads;
  show("upload-error", "");
  setProgress($("upload-progress"), 0);
  show("upload-status", `Uploading ${file.name}…`);
  // The clip it replaces stops uploading: it went on, and stayed on the server unseen.
  state.uploading?.abort();
  const uploading = state.uploading = new AbortController();
  // A clip of hundreds of MB on a slow line could only be stopped by leaving the page.
  $("cancel-upload").hidden = false;
  let upload;
  try {
    upload = await api.upload(file, "clip", (fraction) => {
      if (!current()) return;
      setProgress($("upload-progress"), fraction);
      show("upload-status", `Uploading ${file.name}… ${Math.floor(fraction * 100)} %`);
    }, uploading.signal);
  } catch (error) {
    if (!current()) return;
    finishUpload();
    show("upload-status", state.upload ? describeClip(state.upload) : "");
    if (uploading.signal.aborted) {  // cancelled: the server keeps nothing of it
      show("upload-error", `The upload of ${file.name} was cancelled.`);
    } else {
      show("upload-error", error.message, true);
    }
    return;
  }
  if (!current()) return;
  finishUpload();
  remember({ upload: upload.id, at: null, render: null });
  showClip(upload, 0);
  if (state.background) preview();
}

// The upload has ended, one way or another: its bar and its Cancel button go.
function finishUpload() {
  state.uploading = null;
  $("upload-progress").hidden = true;
  hideKeepingFocus($("cancel-upload"), $("choose"));
}

// Hide a control, handing the keyboard's focus to ``next`` if the control had it: a hidden
// control's focus went back to the top of the page.
function hideKeepingFocus(control, next) {
  if (control.contains(document.activeElement)) next.focus();
  control.hidden = true;
}

// Whether a new preview or render was refused because the page's clip is no longer on the
// server: deleted from the jobs page, in this tab or another, while this page showed it. A new
// job is only ever refused a 404 for its clip; a background upload deleted is refused as a bad
// pick (422). (A job's own poll answers 404 for the job gone, which says nothing of its clip.)
function isClipGone(error) {
  return error instanceof Refused && error.status === 404;
}

// The page's clip was deleted: the page goes back to its first step and says so, where every
// pick failed in the server's words ("there is no upload 3f9c…", an id the page never shows).
function clipGone() {
  const name = state.upload.name;
  state.upload = null;
  ++state.preview;
  state.previewJob = null;
  leaveRender();
  remember({ upload: null, at: null, render: null });
  $("background-step").hidden = true;
  $("render-step").hidden = true;
  $("dropzone").classList.remove("compact");
  $("drop-prompt").textContent = FIRST_PROMPT;
  show("upload-status", "");
  show("clip-notes", "");
  show("upload-error", `The clip ${name} is no longer on the server: it was deleted on the ` +
    "jobs page. Drop it here again.", true);
  $("choose").focus();
}

function describeClip(upload) {
  const sound = upload.audio ? "with sound" : "no sound";
  const length = upload.duration === null ? "length unknown" : `${upload.duration.toFixed(1)} s`;
  return `${upload.name}: ${upload.width}x${upload.height}, ${length}, ` +
    `${Math.round(upload.rate)} fps, ${sound}`;
}

function showClip(upload, at) {
  state.upload = upload;
  leaveRender();
  $("dropzone").classList.add("compact");
  $("drop-prompt").textContent = "Drop another video here";
  show("upload-status", describeClip(upload));
  show("clip-notes", upload.notes.join(" "));
  const slider = $("at");
  slider.step = (1 / upload.rate).toFixed(4);
  slider.max = Math.max(0, (upload.render_seconds || 0) - 1 / upload.rate).toFixed(4);
  slider.value = at;
  showFrame();
  $("background-step").hidden = false;
  $("render-step").hidden = false;
}

function showAt() {
  const text = `${Number($("at").value).toFixed(2)} s`;
  $("at-label").textContent = text;
  $("at").setAttribute("aria-valuetext", text);
}

function showFrame() {
  showAt();
  $("frame").src = `${state.upload.frame_url}?at=${Number($("at").value)}`;
}

// -- 2. backgrounds and previews ----------------------------------------------------------

function select(background, tile) {
  state.background = background;
  remember({ background });
  // The pick is told by aria-pressed on the tiles' buttons, and on the colour tile (a label
  // around a colour input, which takes no aria-pressed) by its input's name.
  for (const other of document.querySelectorAll(".tile")) {
    other.classList.toggle("selected", other === tile);
    if (other.tagName === "BUTTON") other.setAttribute("aria-pressed", String(other === tile));
  }
  $("colour").setAttribute("aria-label",
    tile === $("colour-tile") ? "Colour (selected)" : "Colour");
  $("blur-options").hidden = tile !== $("blur-tile");
  // Not during a render: a pick turned Render back on, and a second render began beside the
  // first, which the page then no longer followed.
  $("render").disabled = state.rendering;
  preview();
}

async function preview() {
  const mine = ++state.preview;  // a later pick wins over a slower earlier one
  const current = () => mine === state.preview;
  if (state.previewJob) api.stopJob(state.previewJob);  // nobody will look at it now
  state.previewJob = null;
  const started = performance.now();
  show("preview-status", "Rendering a preview…");
  $("background-step").dataset.preview = "running";
  let job;
  try {
    // A server away for a moment (restarting) is asked again, as a render's progress is: the
    // pick made meanwhile failed for good, and showed once the server was back.
    for (;;) {
      try {
        job = await api.request("POST", "/api/jobs", {
          upload: state.upload.id, kind: "preview", background: state.background,
          at: Number($("at").value),
        });
        break;
      } catch (error) {
        if (!current()) return;
        if (isClipGone(error)) return clipGone();
        if (!(error instanceof Unreachable)) throw error;
        show("preview-status", "The server cannot be reached; asking again…");
        await new Promise((wake) => setTimeout(wake, LOST_POLL_MS));
        if (!current()) return;
      }
    }
    if (!current()) {  // replaced while it was being queued
      api.stopJob(job.id);
      return;
    }
    state.previewJob = job.id;
    job = await api.waitForJob(job.id, undefined, current);
  } catch (error) {
    job = { status: "failed", error: error.message };
  }
  if (!current()) return;
  state.previewJob = null;
  if (job.status !== "done") {  // failed, or stopped from the jobs page
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
  const picks = state.preview;  // each pick asks for a preview
  // Refused before sending, as a clip is: all of it went first, for the server to refuse.
  const refused = tooLarge(file, "Use a smaller picture or a shorter video.");
  if (refused) {
    show("preview-status", refused, true);
    return;
  }
  show("preview-status", `Uploading ${file.name}…`);
  try {
    const upload = await api.upload(file, "background", (fraction) => {
      if (state.preview === picks) {
        show("preview-status", `Uploading ${file.name}… ${Math.floor(fraction * 100)} %`);
      }
    });
    // Another background picked while it uploaded stays picked (it was replaced by this one).
    if (state.preview === picks) select(`upload:${upload.id}`, $("own"));
  } catch (error) {
    if (state.preview === picks) show("preview-status", error.message, true);
  }
}

// -- 3. render, 4. result -----------------------------------------------------------------

// A new clip: the render of the previous one (still running, perhaps) is no longer followed
// here, its progress and result go, and Render is for the new clip.
function leaveRender() {
  ++state.render;
  state.rendering = false;
  state.keyboard = false;
  $("render-progress").hidden = true;
  show("render-job", "");
  show("render-status", "");
  $("render").disabled = !state.background;
  // A new clip dropped while Stop had the focus: Render takes it, or the upload button while
  // there is nothing to render.
  hideKeepingFocus($("stop-render"), $("render").disabled ? $("choose") : $("render"));
  $("result-step").hidden = true;
  $("result").removeAttribute("src");
  $("result").load();  // stops playing and loading the old video
  $("download").href = "#";
}

async function render() {
  const mine = ++state.render;
  // Render, turned off, loses the keyboard's focus: Stop takes it once it shows.
  state.keyboard = document.activeElement === $("render");
  state.rendering = true;
  $("render").disabled = true;
  $("result-step").hidden = true;
  setProgress($("render-progress"), 0);
  show("render-job", "");
  show("render-status", "Queuing the render…");
  let job;
  try {
    job = await api.request("POST", "/api/jobs", {
      upload: state.upload.id, kind: "video", background: state.background });
  } catch (error) {
    if (mine !== state.render) return;
    if (isClipGone(error)) return clipGone();
    job = { status: "failed", error: error.message };
  }
  if (mine !== state.render) return;  // another clip meanwhile: this render is left to the jobs page
  if (job.id) remember({ render: job.id });
  await follow(job, mine);
}

async function follow(job, mine = ++state.render) {
  const current = () => mine === state.render;
  // Which render this is: a background picked meanwhile ("with dusk" beside Render) is for the
  // next one, and this one's progress and result are still of its own background.
  if (job.id) show("render-job", `Render of ${job.clip} with ${job.background_label}`);
  state.rendering = true;
  $("render").disabled = true;
  setProgress($("render-progress"), job.progress || 0);
  // Stopped here, not only from the jobs page.
  const stop = $("stop-render");
  if (job.id && !FINISHED.includes(job.status)) {
    stop.hidden = false;
    // Not turned off once clicked, which would lose the focus: a second stop does nothing.
    const id = job.id;
    stop.onclick = () => api.stopJob(id);  // the job, asked for next, is stopped
    if (state.keyboard) stop.focus();
  }
  state.keyboard = false;
  try {
    if (job.status !== "failed") job = await api.waitForJob(job.id, (update) => {
      if (update === null) {
        show("render-status", "The server cannot be reached; asking again…");
        return;
      }
      setProgress($("render-progress"), update.progress);
      show("render-status", describeProgress(update));
    }, current);
  } catch (error) {
    job = { status: "failed", error: error.message };
  }
  if (!current()) return;
  state.rendering = false;
  $("render").disabled = false;
  hideKeepingFocus(stop, $("render"));
  if (job.status !== "done") {  // failed, or stopped from the jobs page (not an error)
    show("render-status", job.error, job.status !== "stopped");
    return;
  }
  show("render-status", `Done: ${describeProgress(job)}.`);
  $("result").src = job.result_url;
  $("download").href = job.download_url;
  $("result-step").hidden = false;
}

// -- coming back: a reload, or the address opened again ------------------------------------

function tileFor(background) {
  if (background === "blur" || background.startsWith("blur:")) {
    $("blur-strength").value = background.slice("blur:".length) || BLUR_STRENGTH;
    $("blur-label").textContent = $("blur-strength").value;
    return $("blur-tile");
  }
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
  const mine = state.uploads;  // a clip dropped meanwhile wins over the one in the address
  let upload;
  try {
    upload = await api.request("GET", `/api/uploads/${encodeURIComponent(saved.get("upload"))}`);
  } catch (error) {  // the clip was deleted meanwhile: the page starts afresh
    if (mine === state.uploads) history.replaceState(null, "", location.pathname);
    return;
  }
  if (mine !== state.uploads) return;
  showClip(upload, Number(saved.get("at") || 0));
  const background = saved.get("background");
  const tile = background && tileFor(background);
  if (tile) select(background, tile);
  if (!saved.get("render")) return;
  const following = ++state.render;
  let job;
  try {
    job = await api.request("GET", `/api/jobs/${encodeURIComponent(saved.get("render"))}`);
  } catch (error) {  // deleted from the jobs page meanwhile
    if (following === state.render) remember({ render: null });
    return;
  }
  if (following !== state.render) return;  // a new clip, or a new render, meanwhile
  await follow(job, following);
}

// -- wiring -------------------------------------------------------------------------------

$("choose").addEventListener("click", () => $("clip-file").click());
$("cancel-upload").addEventListener("click", () => state.uploading?.abort());
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
  if (tile.id !== "own" && tile.id !== "blur-tile") {
    tile.addEventListener("click", () => select(tile.dataset.background, tile));
  }
}
// The blur's strength, as OBS and the command line take it (1-100); the page had none but the
// default. The default (the slider's own, from the server) is plain "blur", as before.
const BLUR_STRENGTH = $("blur-strength").defaultValue;
function pickBlur() {
  const strength = $("blur-strength").value;
  select(strength === BLUR_STRENGTH ? "blur" : `blur:${strength}`, $("blur-tile"));
}
$("blur-tile").addEventListener("click", pickBlur);
$("blur-strength").addEventListener("input", () => {
  $("blur-label").textContent = $("blur-strength").value;
});
$("blur-strength").addEventListener("change", pickBlur);
$("own").addEventListener("click", () => $("own-file").click());
$("own-file").addEventListener("change", (event) => {
  if (event.target.files.length) uploadBackground(event.target.files[0]);
  event.target.value = "";
});
// A click on the colour tile (or Enter or Space on it) picks the colour it shows: a picker
// closed on that same colour fires no change, so the tile's own green could not be picked
// without changing it first.
$("colour").addEventListener("click", (event) => {
  const background = `color:${event.target.value}`;
  if (state.background !== background) select(background, $("colour-tile"));
});
$("colour").addEventListener("change", (event) =>
  select(`color:${event.target.value}`, $("colour-tile")));
$("at").addEventListener("input", showAt);
$("at").addEventListener("change", () => {
  remember({ at: $("at").value });
  showFrame();
  if (state.background) preview();
});
$("render").addEventListener("click", render);
restore();
