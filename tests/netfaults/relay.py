"""A TCP relay that delays what it forwards: the network-fault tests' stand-in for `tc netem
delay` on kernels without netem (this development machine's has none).

    python -m tests.netfaults.relay CONTROL.json LISTEN_HOST:PORT... --to HOST:PORT

Each listening address forwards to the target. Every chunk read, in either direction, is
written after `delay_s` plus a uniform jitter of up to `jitter_s` either way, in order (a
chunk never overtakes the one before it), as a slow link would deliver it. CONTROL.json
({"delay_s": 2.0, "jitter_s": 0.5}) is read again every half second, so a test changes the
delay while connections stay open. It models latency and jitter at the TCP level; packet
loss, flapping and partitions are the kernel's (nftables drop rules, links set down).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import sys
import time
from pathlib import Path


class Delay:
    def __init__(self, control: Path) -> None:
        self.control = control
        self.delay_s = 0.0
        self.jitter_s = 0.0

    async def watch(self) -> None:
        while True:
            try:
                settings = json.loads(self.control.read_text())
                self.delay_s = float(settings.get("delay_s", 0.0))
                self.jitter_s = float(settings.get("jitter_s", 0.0))
            except (OSError, ValueError):
                pass
            await asyncio.sleep(0.5)

    def draw(self) -> float:
        return max(0.0, self.delay_s + random.uniform(-self.jitter_s, self.jitter_s))


async def pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: Delay) -> None:
    queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

    async def send() -> None:
        while True:
            due, chunk = await queue.get()
            if not chunk:
                break
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            writer.write(chunk)
            await writer.drain()

    sender = asyncio.create_task(send())
    last_due = 0.0
    try:
        while chunk := await reader.read(65536):
            last_due = max(last_due, time.monotonic() + delay.draw())  # in order
            await queue.put((last_due, chunk))
    except (ConnectionError, OSError):
        pass
    await queue.put((0.0, b""))
    with contextlib.suppress(ConnectionError, OSError):
        await sender
    writer.close()


async def serve(listen: list[str], target: str, delay: Delay) -> None:
    host, port = target.rsplit(":", 1)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            writer.close()
            return
        await asyncio.gather(pump(reader, up_writer, delay), pump(up_reader, writer, delay))

    servers = []
    for address in listen:
        h, p = address.rsplit(":", 1)
        servers.append(await asyncio.start_server(handle, h, int(p)))
    print("relaying", flush=True)
    await asyncio.gather(delay.watch(), *(s.serve_forever() for s in servers))


def main(argv: list[str]) -> int:
    control, *rest = argv
    split = rest.index("--to")
    asyncio.run(serve(rest[:split], rest[split + 1], Delay(Path(control))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
