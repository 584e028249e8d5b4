"""Coverage-guided fuzzing of every network input with atheris (libFuzzer): the message kinds
(status, telemetry, ack, settings, batches, fleet documents), scan records and journal export
files. The properties are tests/protocol/wire_oracle.py's, the same ones the bounded hypothesis
run in tests/test_hostile_input.py checks in CI.

    pip install -e '.[fuzz]'                          # atheris: x86_64 Linux wheels
    python -m tests.fuzz.fuzz_wire -max_total_time=60

The first byte of an input picks the kind; the rest is the payload. A violation raises, which
libFuzzer reports as a crash with the input saved. Not part of the test suite (needs atheris).
"""

from __future__ import annotations

import sys

import atheris  # type: ignore[import-untyped,import-not-found,unused-ignore]

with atheris.instrument_imports():
    from tests.protocol import wire_oracle

KINDS = [*sorted(wire_oracle.SHAPES), "export"]


def test_one_input(data: bytes) -> None:
    if not data:
        return
    kind = KINDS[data[0] % len(KINDS)]
    wire_oracle.check_decoders(kind, data[1:])


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
