// The admin's enrolment code page: the phone page's link (with the code) as a QR, so the
// employee's phone camera can open it.
import qrcode from "./qrcode.mjs";

const link = document.querySelector("[data-enrol-link]");
const canvas = document.querySelector("[data-enrol-qr]");
if (link && canvas) {
  const qr = qrcode(0, "M");
  qr.addData(link.getAttribute("href"), "Byte");
  qr.make();
  const modules = qr.getModuleCount();
  const cell = 6;
  const quiet = 4;
  canvas.width = canvas.height = (modules + 2 * quiet) * cell;
  const ctx = canvas.getContext("2d");
  ctx.fillStyle = "#ffffff";
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.fillStyle = "#000000";
  for (let r = 0; r < modules; r += 1) {
    for (let c = 0; c < modules; c += 1) {
      if (qr.isDark(r, c)) ctx.fillRect((c + quiet) * cell, (r + quiet) * cell, cell, cell);
    }
  }
  canvas.hidden = false;
}
