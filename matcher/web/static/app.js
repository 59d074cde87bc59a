// matcher serve: upload a target, follow its job live (server-sent events), show the result.
// The job id lives in the URL hash (#job=<id>) and in localStorage, so a reloaded page finds its job.
"use strict";

const $ = (id) => document.getElementById(id);
const state = { jobId: null, history: [], budget: null, source: null, shownResult: null };

function showError(message) {
  const el = $("error");
  el.textContent = message;
  el.hidden = !message;
}

async function fetchJson(url, options) {
  const response = await fetch(url, options);
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (!response.ok) {
    throw new Error((body && body.error) || `${response.status} ${response.statusText}`);
  }
  return body;
}

function fillSelect(select, names, chosen) {
  select.replaceChildren(...names.map((name) => {
    const option = document.createElement("option");
    option.value = name;
    option.textContent = name;
    option.selected = name === chosen;
    return option;
  }));
}

async function loadOptions() {
  const options = await fetchJson("/api/options");
  fillSelect($("voice"), options.voices.map((v) => v.name), options.defaults.voice);
  fillSelect($("optimizer"), options.optimizers, options.defaults.optimizer);
  $("budget").value = options.defaults.budget;
}

function formatDistance(d) {
  return d === null || d === undefined ? "–" : Number(d).toPrecision(4);
}

function drawPlot() {
  const canvas = $("plot");
  const ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, left = 56, bottom = 28, top = 10, right = 10;
  ctx.clearRect(0, 0, w, h);
  ctx.strokeStyle = "#888";
  ctx.fillStyle = "#444";
  ctx.font = "11px sans-serif";
  ctx.strokeRect(left, top, w - left - right, h - top - bottom);
  ctx.fillText("evaluations", w / 2 - 30, h - 6);
  ctx.save();
  ctx.translate(12, h / 2 + 40);
  ctx.rotate(-Math.PI / 2);
  ctx.fillText("best distance (log)", 0, 0);
  ctx.restore();
  const points = state.history.filter((p) => p[1] > 0 && isFinite(p[1]));
  if (points.length === 0) return;
  const xMax = Math.max(state.budget || 1, points[points.length - 1][0]);
  const logs = points.map((p) => Math.log10(p[1]));
  let yMin = Math.floor(Math.min(...logs)), yMax = Math.ceil(Math.max(...logs));
  if (yMax === yMin) yMax = yMin + 1;
  const x = (e) => left + (e / xMax) * (w - left - right);
  const y = (v) => top + (1 - (v - yMin) / (yMax - yMin)) * (h - top - bottom);
  for (let v = yMin; v <= yMax; v += 1) {
    ctx.fillText(`1e${v}`, 8 + 16, y(v) + 4);
    ctx.beginPath(); ctx.moveTo(left, y(v)); ctx.lineTo(left + 4, y(v)); ctx.stroke();
  }
  ctx.fillText(String(xMax), w - right - 30, h - bottom + 14);
  ctx.fillText("0", left, h - bottom + 14);
  ctx.strokeStyle = "#1f5fbf";
  ctx.lineWidth = 2;
  ctx.beginPath();
  points.forEach((p, i) => {
    const px = x(p[0]), py = y(Math.log10(p[1]));
    if (i === 0) ctx.moveTo(px, py); else ctx.lineTo(px, py);
  });
  ctx.stroke();
  ctx.lineWidth = 1;
}

function fileUrl(job, name, download) {
  return `/api/jobs/${job.id}/files/${name}` + (download ? "?download=1" : "");
}

function showResult(job) {
  if (state.shownResult === job.id) return;
  state.shownResult = job.id;
  const r = job.result;
  $("target-audio").src = fileUrl(job, "target");
  $("match-audio").src = fileUrl(job, "match.wav");
  $("target-spec").src = fileUrl(job, "target.png");
  $("match-spec").src = fileUrl(job, "match.png");
  const f0 = r.f0_hz ? `${r.f0_hz.toFixed(2)} Hz` : "unpitched";
  $("summary").textContent = `voice ${r.voice}: distance ${formatDistance(r.distance)} at ${r.distance_sr} Hz after ${r.evals} evaluations ` +
    `(${r.search_wall_s.toFixed(1)} s, stopped by ${r.stopped_by}); MFCC distance ${formatDistance(r.metrics.mfcc_distance)}; f0 estimate ${f0}`;
  $("params").tBodies[0].replaceChildren(...r.params.map((p) => {
    const row = document.createElement("tr");
    const value = typeof p.value === "number" ? Number(p.value).toPrecision(4) : p.value;
    for (const [text, cls] of [[p.name, ""], [value, "value"], [p.unit, ""], [p.doc, ""]]) {
      const cell = document.createElement("td");
      cell.textContent = text;
      if (cls) cell.className = cls;
      row.appendChild(cell);
    }
    return row;
  }));
  $("dl-patch").href = fileUrl(job, "patch.json", true);
  $("dl-match").href = fileUrl(job, "match.wav", true);
  $("dl-synth").href = fileUrl(job, "synth.py", true);
  $("dl-history").href = fileUrl(job, "history.csv", true);
  $("dl-report").href = fileUrl(job, "report.png");
  $("result").hidden = false;
}

function showJob(job) {
  $("job").hidden = false;
  $("job-name").textContent = `${job.file_name} (${job.id})`;
  state.budget = job.settings.budget;
  $("evals").textContent = String(job.evals);
  $("budget-of").textContent = ` / ${job.settings.budget}`;
  $("best").textContent = formatDistance(job.best_distance);
  $("phase").textContent = job.phase;
  const what = `${job.settings.voice}, ${job.settings.optimizer}, budget ${job.settings.budget}`;
  $("status").textContent = job.state === "failed" ? `failed: ${job.error}` : `${job.state} (${what})`;
  $("status").className = job.state === "failed" ? "error" : "";
  drawPlot();
  if (job.state === "done" && job.result) showResult(job);
}

function follow(jobId) {
  if (state.source) state.source.close();
  state.jobId = jobId;
  state.history = [];
  state.shownResult = null;
  $("result").hidden = true;
  history.replaceState(null, "", `#job=${jobId}`);
  localStorage.setItem("matcher.job", jobId);
  const source = new EventSource(`/api/jobs/${jobId}/events`);
  state.source = source;
  source.onmessage = (event) => {
    const job = JSON.parse(event.data);
    if (job.id !== state.jobId) return;
    state.history.length = Math.min(state.history.length, job.history_start);
    state.history.push(...job.history);
    showJob(job);
    if (job.state === "done" || job.state === "failed") {
      source.close();
      loadRecent();
    }
  };
  source.addEventListener("gone", () => {
    source.close();
    showError(`job ${jobId} is no longer on the server`);
  });
}

async function loadRecent() {
  try {
    const { jobs } = await fetchJson("/api/jobs");
    $("jobs").replaceChildren(...jobs.slice(0, 20).map((job) => {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = `#job=${job.id}`;
      link.textContent = `${job.file_name}: ${job.state}` + (job.best_distance !== null ? `, distance ${formatDistance(job.best_distance)}` : "");
      item.appendChild(link);
      return item;
    }));
  } catch (e) {
    // the list is a convenience; the page works without it
  }
}

async function submit(event) {
  event.preventDefault();
  showError("");
  const file = $("file").files[0];
  if (!file) { showError("choose a sound file first"); return; }
  const body = new FormData();
  body.append("voice", $("voice").value);
  body.append("budget", $("budget").value);
  body.append("optimizer", $("optimizer").value);
  body.append("file", file, file.name);
  $("match").disabled = true;
  try {
    const job = await fetchJson("/api/jobs", { method: "POST", body });
    follow(job.id);
    loadRecent();
  } catch (e) {
    showError(e.message);
  } finally {
    $("match").disabled = false;
  }
}

function jobFromLocation() {
  const match = /job=([0-9a-f]+)/.exec(location.hash);
  return match ? match[1] : localStorage.getItem("matcher.job");
}

async function resume() {
  const jobId = jobFromLocation();
  if (!jobId || jobId === state.jobId) return;
  try {
    await fetchJson(`/api/jobs/${jobId}`);
    follow(jobId);
  } catch (e) {
    localStorage.removeItem("matcher.job");
  }
}

window.addEventListener("hashchange", resume);
$("match-form").addEventListener("submit", submit);
loadOptions().then(resume).catch((e) => showError(e.message));
loadRecent();
