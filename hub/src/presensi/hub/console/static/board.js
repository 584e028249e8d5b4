// Presensi console: an event's board follows the hub's commits over Server-Sent Events. The
// server renders the board's fragment (escaped by its templates) and this swaps it in.
"use strict";
(function () {
  var board = document.getElementById("board");
  if (!board || !window.EventSource) { return; }
  var source = new EventSource(board.dataset.stream);
  source.addEventListener("board", function (event) {
    board.innerHTML = JSON.parse(event.data).html;
    board.classList.remove("stale");
  });
  source.onerror = function () { board.classList.add("stale"); };
})();
