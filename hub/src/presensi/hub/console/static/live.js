// Presensi console: the live scans page follows the hub's commits over Server-Sent Events.
// New rows are built with textContent only: nothing from the stream is ever parsed as HTML.
"use strict";
(function () {
  var box = document.getElementById("live");
  var status = document.getElementById("live-status");
  if (!box || !window.EventSource) { return; }
  var body = box.querySelector("tbody");
  var limit = 200;

  function say(state) {
    status.textContent = status.dataset[state] || "";
    status.className = "status " + state;
  }

  function cell(row, text) {
    var td = document.createElement("td");
    td.textContent = text;
    row.appendChild(td);
    return td;
  }

  function add(scan) {
    if (body.querySelector('tr[data-key="' + CSS.escape(scan.key) + '"]')) { return; }
    var empty = body.querySelector("tr.empty");
    if (empty) { empty.remove(); }
    var row = document.createElement("tr");
    row.dataset.key = scan.key;
    row.className = scan.outcome + " fresh";
    var when = cell(row, scan.time);
    if (!scan.synced) {
      var mark = document.createElement("abbr");
      mark.title = box.dataset.unsynced;
      mark.textContent = " *";
      when.appendChild(mark);
    }
    var who = cell(row, scan.employee);
    if (scan.name) {
      var name = document.createElement("span");
      name.className = "name";
      name.textContent = " " + scan.name;
      who.appendChild(name);
    }
    cell(row, scan.direction);
    var result = cell(row, "");
    var badge = document.createElement("span");
    badge.className = "outcome " + scan.outcome;
    badge.textContent = scan.outcome_text;
    result.appendChild(badge);
    if (scan.outcome !== "accepted") { result.appendChild(document.createTextNode(" (" + (scan.reason_text || scan.reason) + ")")); }
    // who and what first: on a phone the place and the station are a swipe away
    cell(row, scan.location);
    cell(row, scan.station);
    body.insertBefore(row, body.firstChild);
    while (body.rows.length > limit) { body.deleteRow(body.rows.length - 1); }
  }

  say("connecting");
  var source = new EventSource(box.dataset.stream);
  source.onopen = function () { say("live"); };
  source.onerror = function () { say("lost"); };
  // one event per poll of the hub: the scans committed since, oldest first
  source.addEventListener("scans", function (event) { JSON.parse(event.data).forEach(add); });
})();
