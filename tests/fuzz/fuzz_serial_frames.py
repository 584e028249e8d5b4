"""Coverage-guided fuzzing of the serial provisioning frame parser with atheris (libFuzzer).

    pip install -e '.[fuzz]'                                  # atheris: x86_64 Linux wheels
    python fuzz/fuzz_serial_frames.py -max_total_time=60      # any libFuzzer flag works
    python fuzz/fuzz_serial_frames.py -max_total_time=600 -jobs=2 corpus/   # keep a corpus

Each input is cut into pieces (sizes from the input) and fed to a FrameReader, the way bytes
arrive from a serial port; the first byte chooses whether the input is used as it is, or as
valid frames made from it with bytes of it XORed in, so the fuzzer also gets past the checksums.
The properties, as in tests/provisioning/test_serial_frames.py: the reader raises nothing, never
buffers a maximal frame or more, returns only frames whose encoding is in the input, and holds
nothing after flush(); decode_frame raises nothing but FrameError; the payload decoders raise
nothing but ProtocolViolation (and parse_manifest nothing but ValueError). A violation raises,
which libFuzzer reports as a crash with the input saved.

This file is not part of the test suite (pytest collects tests/ only) and needs atheris, which
the dev extra does not install.
"""

from __future__ import annotations

import contextlib
import sys

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from presensi.protocol.serial_frames import (
        MAX_FRAME,
        Frame,
        FrameError,
        FrameReader,
        FrameType,
        Message,
        ProtocolViolation,
        decode_chunk,
        decode_frame,
        encode_frame,
        parse_manifest,
    )

DATA_TYPES = [t for t in FrameType if t not in {FrameType.ACK, FrameType.NAK, FrameType.ABORT}]


def stream(fdp: atheris.FuzzedDataProvider) -> bytes:
    if fdp.ConsumeIntInRange(0, 1) == 0:
        return bytes(fdp.ConsumeBytes(fdp.remaining_bytes()))
    out = bytearray()
    for _ in range(fdp.ConsumeIntInRange(1, 4)):
        frame = Frame(
            DATA_TYPES[fdp.ConsumeIntInRange(0, len(DATA_TYPES) - 1)],
            fdp.ConsumeIntInRange(0, 0xFFFF),
            fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 64)),
            more=fdp.ConsumeBool(),
        )
        data = bytearray(encode_frame(frame))
        for _ in range(fdp.ConsumeIntInRange(0, 3)):  # damage a few bytes, or none
            data[fdp.ConsumeIntInRange(0, len(data) - 1)] ^= fdp.ConsumeIntInRange(0, 255)
        out += fdp.ConsumeBytes(fdp.ConsumeIntInRange(0, 8)) + data
    return bytes(out)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    sizes = [fdp.ConsumeIntInRange(1, 64) for _ in range(fdp.ConsumeIntInRange(0, 8))]
    raw = stream(fdp)
    reader = FrameReader()
    frames: list[Frame] = []
    position = 0
    for size in [*sizes, len(raw)]:
        frames += reader.feed(raw[position : position + size])
        position += size
        if reader.buffered >= MAX_FRAME:
            raise AssertionError(f"{reader.buffered} bytes buffered")
    frames += reader.flush()
    if reader.buffered:
        raise AssertionError("bytes left after flush()")
    for frame in frames:
        if encode_frame(frame) not in raw:
            raise AssertionError(f"a frame that was never sent: {frame!r}")
        with contextlib.suppress(ProtocolViolation):
            Message(frame.type, frame.payload).json()
        with contextlib.suppress(ProtocolViolation):
            decode_chunk(frame.payload)
    with contextlib.suppress(FrameError):
        decode_frame(raw)
    with contextlib.suppress(ValueError):
        parse_manifest(raw)


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
