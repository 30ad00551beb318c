// The EdgeDiffuse web page: a client of the server's own HTTP API (same endpoints, same bearer key as any other).
// Images are made through POST /v1/images/stream, whose server-sent events carry a step counter, a latent preview
// and finally the PNG; fetch reads them because EventSource cannot send a POST body or an Authorization header.
"use strict";

const $ = (id) => document.getElementById(id);
const KEY_STORE = "edgediffuse.key";
const models = new Map(); // id -> defaults from GET /v1/models
const history = [];       // this page session's images, newest first

function key() {
  return $("key").value.trim();
}

function setStatus(text, bad) {
  $("status").textContent = text;
  $("status").classList.toggle("bad", Boolean(bad));
}

async function api(path, init = {}) {
  const headers = Object.assign({}, init.headers || {});
  if (key()) headers.Authorization = "Bearer " + key();
  return fetch(path, Object.assign({}, init, { headers }));
}

/** The server's one-line message from a JSON error answer, or the HTTP status. */
async function errorOf(res) {
  try {
    const body = await res.json();
    if (body && body.error && body.error.message) return body.error.message;
  } catch (e) {
    // not JSON: fall through to the status line
  }
  return "HTTP " + res.status;
}

async function connect() {
  sessionStorage.setItem(KEY_STORE, key());
  setStatus("connecting…");
  let res;
  try {
    res = await api("/v1/models");
  } catch (e) {
    setStatus("server unreachable", true);
    return;
  }
  if (!res.ok) {
    setStatus(await errorOf(res), true);
    return;
  }
  const list = (await res.json()).data;
  models.clear();
  for (const select of [$("model"), $("model-b")]) select.replaceChildren();
  for (const m of list) {
    models.set(m.id, m.defaults || {});
    for (const select of [$("model"), $("model-b")]) select.append(new Option(m.id, m.id));
  }
  if (list.length > 1) $("model-b").selectedIndex = 1;
  applyDefaults();
  $("generate").disabled = false;
  setStatus("connected: " + list.length + (list.length === 1 ? " model" : " models"));
}

/** Fills the form with the chosen model's sampling defaults. */
function applyDefaults() {
  const d = models.get($("model").value);
  if (!d) return;
  if (d.steps) $("steps").value = d.steps;
  if (d.cfg_scale !== undefined) $("cfg").value = d.cfg_scale;
  if (d.size) $("width").value = $("height").value = d.size;
  if (d.deepcache_branches) $("branch").max = d.deepcache_branches - 1;
}

/** "name:0.8, other" -> " <lora:name:0.8> <lora:other>" (AUTOMATIC1111's prompt tags). */
function loraTags(text) {
  return text.split(",").map((s) => s.trim()).filter((s) => s).map((s) => " <lora:" + s + ">").join("");
}

function randomSeed() {
  return crypto.getRandomValues(new Uint32Array(1))[0];
}

/** The request body for one model; both panels of a comparison share everything but the model. */
function body(model, seed) {
  const b = {
    model,
    prompt: $("prompt").value + loraTags($("loras").value),
    negative_prompt: $("negative").value,
    steps: Number($("steps").value),
    cfg_scale: Number($("cfg").value),
    width: Number($("width").value),
    height: Number($("height").value),
    seed,
  };
  if ($("sampler").value) b.sampler_name = $("sampler").value;
  const tome = Number($("tome").value);
  if (tome > 0) b.token_merging_ratio = tome;
  const interval = Number($("deepcache").value);
  if (interval > 0) {
    b.deepcache_interval = interval;
    b.deepcache_branch = Number($("branch").value);
  }
  return b;
}

function newPanel(title) {
  const panel = $("panel").content.firstElementChild.cloneNode(true);
  panel.querySelector(".title").textContent = title;
  $("panels").append(panel);
  return panel;
}

function showError(panel, message) {
  panel.dataset.state = "error";
  const p = panel.querySelector(".error");
  p.textContent = message;
  p.hidden = false;
  panel.querySelector(".preview").hidden = true;
}

/** Shows a finished image (decoded before it is revealed) with its parameters. */
async function showImage(panel, item) {
  const img = panel.querySelector(".result");
  img.src = item.src;
  img.alt = item.info.split("\n")[0];
  await img.decode();
  img.style.imageRendering = img.naturalWidth < 128 ? "pixelated" : "auto";
  img.hidden = false;
  panel.querySelector(".preview").hidden = true;
  panel.querySelector(".params").textContent = item.info + "\nTime: " + item.seconds.toFixed(2) + " s";
  const bar = panel.querySelector("progress");
  bar.max = bar.value = 1;
  panel.dataset.state = "done";
}

/** Splits a server-sent-event stream into {event, data} records as its chunks arrive. */
async function* events(stream) {
  const reader = stream.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    buffer += value;
    let end;
    while ((end = buffer.indexOf("\n\n")) >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      let event = "message", data = "";
      for (const line of block.split("\n")) {
        if (line.startsWith("event: ")) event = line.slice(7);
        else if (line.startsWith("data: ")) data += line.slice(6);
      }
      if (data) yield { event, data: JSON.parse(data) };
    }
  }
}

/** One image on one model into one panel: progress while it runs, then the image or the server's error. */
async function generate(panel, request) {
  panel.dataset.state = "running";
  const counter = panel.querySelector(".counter"), bar = panel.querySelector("progress");
  const preview = panel.querySelector(".preview");
  counter.textContent = "sending…";
  let res;
  try {
    res = await api("/v1/images/stream", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
  } catch (e) {
    showError(panel, "server unreachable");
    return;
  }
  if (!res.ok) {
    counter.textContent = "";
    showError(panel, await errorOf(res));
    return;
  }
  for await (const { event, data } of events(res.body)) {
    if (event === "queued") {
      counter.textContent = "queued · seed " + data.seed;
      bar.max = data.total;
    } else if (event === "progress") {
      bar.max = data.total;
      bar.value = data.step;
      counter.textContent = "step " + data.step + " / " + data.total;
      if (data.preview) {
        preview.src = data.preview;
        preview.hidden = false;
      }
    } else if (event === "image") {
      const item = {
        src: "data:image/png;base64," + data.image,
        info: data.info,
        seconds: data.seconds,
        model: data.parameters.sd_model_name,
      };
      await showImage(panel, item);
      addToHistory(item);
      return;
    } else if (event === "error") {
      showError(panel, data.error.message);
      return;
    }
  }
  showError(panel, "the stream ended without an image");
}

function addToHistory(item) {
  history.unshift(item);
  const li = document.createElement("li");
  const button = document.createElement("button");
  button.type = "button";
  button.title = item.info;
  const img = document.createElement("img");
  img.src = item.src;
  img.alt = item.model;
  button.append(img);
  button.addEventListener("click", () => {
    $("panels").replaceChildren();
    showImage(newPanel(item.model + " (history)"), item);
  });
  li.append(button);
  $("history").prepend(li);
}

async function onGenerate(e) {
  e.preventDefault();
  const seedField = Number($("seed").value);
  const seed = seedField >= 0 ? seedField : randomSeed();
  const chosen = [$("model").value];
  if ($("compare").checked) chosen.push($("model-b").value);
  $("generate").disabled = true;
  $("panels").replaceChildren();
  try {
    await Promise.all(chosen.map((m) => generate(newPanel(m + " · seed " + seed), body(m, seed))));
  } finally {
    $("generate").disabled = false;
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("generate").disabled = true;
  $("key").value = sessionStorage.getItem(KEY_STORE) || "";
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    connect();
  });
  $("settings").addEventListener("submit", onGenerate);
  $("model").addEventListener("change", applyDefaults);
  $("compare").addEventListener("change", () => {
    $("model-b").disabled = !$("compare").checked;
  });
  // reconnect with the key this tab used before; a server started with --no-auth connects with an empty key
  if ($("key").value) connect();
});
