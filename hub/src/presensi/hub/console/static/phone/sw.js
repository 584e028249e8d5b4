// The phone page's service worker: the page and its files come from the cache when the hub is
// out of reach (airplane mode), so the badge keeps working offline. The page itself is fetched
// from the network first (a newer page, the reader's language), the rest from the cache while a
// fresh copy is fetched for next time.
const CACHE = "presensi-ponsel-v1";
const SHELL = [
  "/ponsel/",
  "/ponsel/manifest.webmanifest",
  "/static/phone/phone.js",
  "/static/phone/qrcode.mjs",
  "/static/phone/phone.css",
  "/static/phone/icon-192.png",
  "/static/phone/icon-512.png",
  "/static/favicon.svg",
];

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches
      .open(CACHE)
      .then((cache) => cache.addAll(SHELL))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request) {
  const cache = await caches.open(CACHE);
  try {
    const answer = await fetch(request);
    if (answer.ok) await cache.put(request, answer.clone());
    return answer;
  } catch (err) {
    const kept = await cache.match(request, { ignoreSearch: true });
    if (kept) return kept;
    throw err;
  }
}

// the cached copy at once; a fresh one fetched behind it for the next load (so a new version
// of the page's files reaches the phone without a new service worker)
async function cacheThenRefresh(event) {
  const kept = await caches.match(event.request);
  const refresh = fetch(event.request).then(async (answer) => {
    if (answer.ok) await (await caches.open(CACHE)).put(event.request, answer.clone());
    return answer;
  });
  if (kept) {
    event.waitUntil(refresh.catch(() => undefined));
    return kept;
  }
  return refresh;
}

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin) return;
  if (url.pathname === "/ponsel/") {
    event.respondWith(networkFirst(event.request));
  } else if (SHELL.includes(url.pathname)) {
    event.respondWith(cacheThenRefresh(event));
  }
  // anything else (the hub's time, enrolment) goes to the network as usual
});
