// Runs a MicroPython script under the MicroPython WebAssembly port, in Node.js.
//
//   node run.mjs [--path DIR]... [--bridge-fd N] [--heap BYTES] SCRIPT [ARG]...
//
// Each --path DIR is copied into the interpreter's in-memory file system (/lib/1, /lib/2 ...)
// and put on sys.path in that order. sys.argv is
// [SCRIPT, ARG...]. With --bridge-fd, the JS module `hostbridge` carries a TCP byte stream over
// that file descriptor to a bridge process (tests/firmware/bridge.py): the firmware's own MQTT
// client makes every MQTT byte, and only the socket is outside the interpreter.
// Exit status: 0, or 1 with the Python traceback on stderr.
import fs from "node:fs";
import path from "node:path";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

function parseArgs(argv) {
  const opts = { paths: [], bridgeFd: null, heap: 16 * 1024 * 1024, script: null, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (opts.script !== null) opts.args.push(a);
    else if (a === "--path") opts.paths.push(argv[++i]);
    else if (a === "--bridge-fd") opts.bridgeFd = Number(argv[++i]);
    else if (a === "--heap") opts.heap = Number(argv[++i]);
    else opts.script = a;
  }
  if (opts.script === null) throw new Error("usage: run.mjs [--path DIR]... SCRIPT [ARG]...");
  return opts;
}

function copyTree(FS, from, to) {
  FS.mkdirTree(to);
  for (const entry of fs.readdirSync(from, { withFileTypes: true })) {
    const src = path.join(from, entry.name);
    const dst = `${to}/${entry.name}`;
    if (entry.isDirectory()) {
      if (entry.name !== "__pycache__") copyTree(FS, src, dst);
    } else if ([".py", ".mpy", ".json"].some((ext) => entry.name.endsWith(ext))) {
      FS.writeFile(dst, fs.readFileSync(src));
    }
  }
}

// -- the socket bridge: framed requests over a blocking file descriptor ------------------------

function readExactly(fd, n) {
  const buf = Buffer.alloc(n);
  let got = 0;
  while (got < n) {
    let r;
    try {
      r = fs.readSync(fd, buf, got, n - got, null);
    } catch (e) {
      if (e.code === "EAGAIN") continue;
      throw e;
    }
    if (r === 0) throw new Error("bridge closed");
    got += r;
  }
  return buf;
}

function bridgeCall(fd, op, payload) {
  const head = Buffer.alloc(5);
  head.write(op, 0, "latin1");
  head.writeUInt32BE(payload.length, 1);
  fs.writeSync(fd, Buffer.concat([head, payload]));
  const reply = readExactly(fd, 5);
  const body = readExactly(fd, reply.readUInt32BE(1));
  return [reply[0], body];
}

function makeBridge(fd) {
  const u32 = (...values) => {
    const b = Buffer.alloc(4 * values.length);
    values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
    return b;
  };
  // every result is "STATUS:TEXT": status 0 ok, 1 error (TEXT = message), 2 closed by the peer
  const result = ([st, text]) => `${st}:${text}`;
  return {
    connect(host, port) {
      const [st, body] = bridgeCall(fd, "C", Buffer.from(`${host}:${port}`));
      return result([st, body.toString("latin1")]);
    },
    send(hex) {
      const [st, body] = bridgeCall(fd, "S", Buffer.from(hex, "hex"));
      return result([st, st === 0 ? String(body.readUInt32BE(0)) : body.toString("latin1")]);
    },
    recv(max, timeoutMs) {
      const [st, body] = bridgeCall(fd, "R", u32(max, timeoutMs));
      return result([st, st === 0 ? body.toString("hex") : body.toString("latin1")]);
    },
    close() {
      bridgeCall(fd, "X", Buffer.alloc(0));
      return "0:";
    },
  };
}

const opts = parseArgs(process.argv.slice(2));
const mp = await loadMicroPython({
  heapsize: opts.heap,
  stdout: (line) => process.stdout.write(line + "\n"),
  stderr: (line) => process.stderr.write(line + "\n"),
});
const dirs = opts.paths;
const libs = dirs.map((dir, i) => {
  const to = `/lib/${i}`;
  copyTree(mp.FS, path.resolve(dir), to);
  return to;
});
mp.FS.mkdirTree("/work");
if (opts.bridgeFd !== null) mp.registerJsModule("hostbridge", makeBridge(opts.bridgeFd));
const scriptName = path.basename(opts.script);
const prelude = [
  "import sys, os",
  `sys.path[:0] = ${JSON.stringify(libs)}`,
  `sys.argv[:] = ${JSON.stringify([scriptName, ...opts.args])}`,
  "os.chdir('/work')",
].join("\n");
try {
  mp.runPython(prelude);
  mp.runPython(fs.readFileSync(opts.script, "utf8"));
} catch (error) {
  if (error.name !== "PythonError") throw error;
  if (error.type === "SystemExit") {
    process.exit(0);
  }
  process.stderr.write(error.message + "\n");
  process.exit(1);
}
