// The phone badge page (docs/phone-badge.md): enrolment, then a QR that changes every 15 s.
// The device key is made here by WebCrypto (ECDSA P-256, not extractable) and kept in
// IndexedDB; the code is what presensi.protocol.phone.parse reads:
//   "PRP1:" + Base32(certificate + time step (4 bytes) + ECDSA signature r||s (64 bytes))
// signed over "presensi/phone-code/v1\0" + time step + certificate id (SHA-256[:8]).
import qrcode from "./qrcode.mjs";

const STEP_S = 15;
const PREFIX = "PRP1:";
const CODE_DOMAIN = new TextEncoder().encode("presensi/phone-code/v1\0");
const B32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
const CLOCK_LIMIT_MS = 10000;
const QUIET = 4; // modules of white around the code
const DB_NAME = "presensi-ponsel";
const STORE = "kartu";
const SLOT = "aktif";

const root = document.getElementById("ponsel");
const $ = (id) => document.getElementById(id);

function msg(name, fields = {}) {
  let text = root.dataset[name] || name;
  for (const [key, value] of Object.entries(fields)) text = text.replace(`{${key}}`, value);
  return text;
}

// -- storage ------------------------------------------------------------------------------

function openDb() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

async function stored(mode, act) {
  const db = await openDb();
  return new Promise((resolve, reject) => {
    const req = act(db.transaction(STORE, mode).objectStore(STORE));
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

const loadBadge = () => stored("readonly", (s) => s.get(SLOT));
const saveBadge = (badge) => stored("readwrite", (s) => s.put(badge, SLOT));

// -- the code -----------------------------------------------------------------------------

function base32(bytes) {
  let out = "";
  let bits = 0;
  let value = 0;
  for (const byte of bytes) {
    value = ((value << 8) | byte) & 0xffff;
    bits += 8;
    while (bits >= 5) {
      out += B32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += B32[(value << (5 - bits)) & 31];
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function stepBytes(step) {
  const bytes = new Uint8Array(4);
  new DataView(bytes.buffer).setUint32(0, step);
  return bytes;
}

async function codeText(badge, certId, step) {
  const when = stepBytes(step);
  const signature = await crypto.subtle.sign(
    { name: "ECDSA", hash: "SHA-256" },
    badge.privateKey,
    concat(CODE_DOMAIN, when, certId),
  );
  return PREFIX + base32(concat(badge.cert, when, new Uint8Array(signature)));
}

function draw(canvas, text) {
  const qr = qrcode(0, "M");
  qr.addData(text, "Alphanumeric");
  qr.make();
  const modules = qr.getModuleCount();
  const total = modules + 2 * QUIET;
  const cssWidth = Math.min(document.documentElement.clientWidth, window.innerHeight * 0.75);
  const ratio = window.devicePixelRatio || 1;
  const cell = Math.max(1, Math.floor((cssWidth * ratio) / total));
  canvas.width = canvas.height = cell * total;
  canvas.style.width = canvas.style.height = `${(cell * total) / ratio}px`;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  for (let r = 0; r < modules; r += 1) {
    for (let c = 0; c < modules; c += 1) {
      if (qr.isDark(r, c)) ctx.fillRect((c + QUIET) * cell, (r + QUIET) * cell, cell, cell);
    }
  }
  canvas.dataset.text = text;
  canvas.dataset.version = String((modules - 17) / 4);
}

// -- the hub's clock ----------------------------------------------------------------------

async function hubOffset() {
  const sent = Date.now();
  const answer = await fetch("/ponsel/waktu", { cache: "no-store" });
  if (!answer.ok) throw new Error(`status ${answer.status}`);
  const { now_ms: hubNow } = await answer.json();
  return hubNow - (sent + Date.now()) / 2;
}

function showClock(offsetMs) {
  const warn = $("jam");
  const off = Math.round(Math.abs(offsetMs) / 1000);
  warn.hidden = !(Math.abs(offsetMs) > CLOCK_LIMIT_MS);
  warn.textContent = msg("msgClockOff", { s: String(off) });
  root.dataset.clockOffsetMs = String(Math.round(offsetMs));
}

// -- the badge screen ---------------------------------------------------------------------

async function showState(badge) {
  const answer = await fetch(`/ponsel/status?seri=${badge.serial}`, { cache: "no-store" });
  if (!answer.ok) return;
  const { state } = await answer.json();
  const replaced = state === "diganti" || state === "dicabut"; // replaced, or lost or left
  $("diganti").hidden = state !== "diganti";
  $("dicabut").hidden = state !== "dicabut";
  $("kartu").classList.toggle("diganti", replaced); // stations refuse it: no code to show
  root.dataset.state = state;
}

async function showBadge(badge) {
  $("daftar").hidden = true;
  $("kartu").hidden = false;
  $("pegawai").textContent = badge.employee;
  $("seri").textContent = String(badge.serial);
  const until = new Date(badge.validUntil * 1000).toLocaleDateString(document.documentElement.lang, {
    day: "numeric",
    month: "long",
    year: "numeric",
  });
  $("berlaku").textContent = msg("msgValidUntil", { date: until });
  showClock(badge.offsetMs || 0);
  const certId = new Uint8Array(await crypto.subtle.digest("SHA-256", badge.cert)).slice(0, 8);
  const canvas = $("qr");
  let shown = -1;
  let busy = false;
  const tick = async () => {
    const nowMs = Date.now();
    const step = Math.floor(nowMs / 1000 / STEP_S);
    const left = STEP_S - ((nowMs / 1000) % STEP_S);
    $("hitung").textContent = msg("msgCountdown", { s: String(Math.ceil(left)) });
    $("sisa-bar").style.width = `${(left / STEP_S) * 100}%`;
    $("luring").hidden = navigator.onLine;
    const expired = nowMs / 1000 >= badge.validUntil;
    $("kedaluwarsa").hidden = !expired;
    $("kedaluwarsa").textContent = msg("msgExpired");
    if (step === shown || busy) return;
    busy = true;
    try {
      draw(canvas, await codeText(badge, certId, step));
      canvas.dataset.step = String(step);
      shown = step;
    } finally {
      busy = false;
    }
  };
  await tick();
  setInterval(tick, 250);
  window.addEventListener("resize", () => {
    shown = -1;
  });
  if (navigator.onLine) {
    try {
      badge.offsetMs = await hubOffset();
      showClock(badge.offsetMs);
      await saveBadge(badge);
      await showState(badge);
    } catch {
      $("luring").hidden = false; // the hub is out of reach: the code works all the same
    }
  }
}

// -- enrolment ----------------------------------------------------------------------------

function fail(text) {
  const box = $("galat");
  box.textContent = text;
  box.hidden = false;
}

async function enrol(event) {
  event.preventDefault();
  $("galat").hidden = true;
  if (!window.crypto || !crypto.subtle || !window.indexedDB) {
    fail(msg("msgUnsupported"));
    return;
  }
  const button = $("tombol-daftar");
  button.disabled = true;
  button.textContent = msg("msgEnrolling");
  try {
    const pair = await crypto.subtle.generateKey(
      { name: "ECDSA", namedCurve: "P-256" },
      false, // the private key can never be read out of this browser
      ["sign", "verify"],
    );
    const raw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const sent = Date.now();
    let answer;
    try {
      answer = await fetch("/ponsel/daftar", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          code: $("kode").value,
          public_key: btoa(String.fromCharCode(...raw)),
        }),
      });
    } catch {
      fail(msg("msgNetwork"));
      return;
    }
    const reply = await answer.json();
    if (!answer.ok) {
      fail(reply.message || reply.error);
      return;
    }
    const cert = Uint8Array.from(atob(reply.certificate), (c) => c.charCodeAt(0));
    const badge = {
      privateKey: pair.privateKey,
      cert,
      employee: reply.employee,
      serial: reply.serial,
      validUntil: reply.valid_until_s,
      offsetMs: reply.now_ms - (sent + Date.now()) / 2,
    };
    await saveBadge(badge);
    history.replaceState(null, "", "/ponsel/");
    window.location.reload(); // one timer, one screen: start again with the badge
  } catch (err) {
    fail(String(err));
  } finally {
    button.disabled = false;
    button.textContent = msg("msgEnrol");
  }
}

let enrolmentShown = false;

function showEnrolment() {
  $("kartu").hidden = true;
  $("daftar").hidden = false;
  const form = $("form-daftar");
  if (!form || enrolmentShown) return;
  enrolmentShown = true;
  const hash = new URLSearchParams(window.location.hash.slice(1));
  if (hash.get("kode")) $("kode").value = hash.get("kode");
  form.addEventListener("submit", enrol);
}

// -- start --------------------------------------------------------------------------------

async function start() {
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/ponsel/sw.js", { scope: "/ponsel/" }).catch(() => {});
  }
  let badge = null;
  try {
    badge = window.indexedDB ? await loadBadge() : null;
  } catch {
    badge = null;
  }
  const fresh = new URLSearchParams(window.location.hash.slice(1)).get("kode");
  if (badge && !fresh) {
    $("ulang").addEventListener("click", showEnrolment);
    await showBadge(badge);
  } else {
    showEnrolment();
  }
  root.dataset.ready = "yes";
}

start();
