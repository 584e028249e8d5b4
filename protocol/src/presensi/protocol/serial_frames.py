"""The serial provisioning protocol: frames, a resynchronising frame reader and a reliable link.

An installer's laptop (``presensi provision flash``) sends a station's enrollment bundle to the
station's provisioning agent (``presensi station provision-agent``) over a serial cable: the
Pi's UART or its USB gadget serial port. Lines like these drop, duplicate and corrupt bytes, and
the cable can be pulled at any moment, so every frame carries two checksums, every data frame is
acknowledged, and a damaged or lost frame is sent again a limited number of times.

Frame layout (integers big-endian)::

    offset  size  field
    0       2     SOF: 0xA5 0x5A
    2       1     version: 1
    3       1     type: the frame type (bits 0-6) and MORE (bit 7, see below)
    4       2     seq: the sender's sequence number (0-65535, wrapping)
    6       2     length: payload length, 0-4096
    8       2     header check: CRC-16/CCITT (binascii.crc_hqx, initial 0xFFFF) of bytes 2-7
    10      n     payload
    10+n    4     CRC-32 (zlib.crc32) of bytes 2 to 10+n-1 (everything after SOF)

A frame is 14 to 4110 bytes long. The header check lets a reader reject a damaged length at
once, so a corrupted length never makes it wait for bytes that will not come; the CRC-32 covers
the header again and the payload. Any single damaged byte, and any burst up to 16 bits in the
header or 32 bits anywhere, is detected.

:class:`FrameReader` takes bytes as they arrive, in any split, and returns whole frames. It never
raises on input: it looks for SOF, checks the header, waits for the rest, checks the CRC-32, and
on any failure skips one byte and looks for the next SOF, so a good frame right after garbage or
inside a damaged frame is still found. It buffers at most one maximal frame (4110 bytes), and
:meth:`FrameReader.flush` gives up on a frame that stopped arriving.

Frame types (payloads are UTF-8 JSON objects unless said otherwise)::

    0x01 HELLO       laptop -> station  {"protocol": 1, "station_id", "replace", "session"}
    0x02 HELLO_ACK   station -> laptop  {"protocol", "agent_version", "hardware_serial",
                                         "station_id" (current, or null), "hostname"}
    0x10 FILE_BEGIN  laptop -> station  {"name", "size", "sha256"}
    0x11 FILE_CHUNK  laptop -> station  binary: 4-byte offset, then the data
    0x12 FILE_END    laptop -> station  {"name"}; the station answers RESULT or ERROR
    0x20 COMMIT      laptop -> station  {"manifest_sha256"}; the station answers RESULT
                                        (config installed) then REPORT, or ERROR
    0x30 RESULT      station -> laptop  {"stage": "file" | "commit", "ok": true, ...}
    0x31 REPORT      station -> laptop  the self-test report
    0x3E ERROR       either way         {"code", "message", ...}; the session is over
    0x3F ABORT       laptop -> station  {"reason"}; sent once, unacknowledged
    0x40 ACK         either way         empty; seq = the seq of the frame acknowledged
    0x41 NAK         either way         empty; "what you just sent arrived damaged"

Link rules (:class:`Link`, used by both sides): every frame but ACK, NAK and ABORT is a *data
frame* and is sent stop-and-wait: the sender waits for the ACK with its seq, and sends the same
frame again (same seq) on a NAK, on a damaged frame from the peer, or when no ACK came within the
ACK timeout, up to ``retries`` times. A receiver acknowledges every intact data frame, delivers it
unless its seq equals that of the frame it delivered last (a repeat whose ACK was lost), and
answers a damaged frame with a NAK. A message longer than 4096 bytes (a large REPORT) is split
into frames that carry the MORE bit, all of the same type; the last one has MORE clear.
"""

from __future__ import annotations

import binascii
import enum
import json
import logging
import random
import re
import struct
import time
import zlib
from collections import deque
from dataclasses import dataclass
from typing import Any, Protocol

from presensi.protocol.errors import ProtocolError

logger = logging.getLogger(__name__)

SOF = b"\xa5\x5a"
VERSION = 1
PROTOCOL = 1  # the HELLO-level protocol version
MAX_PAYLOAD = 4096
MORE = 0x80  # in the type byte: more frames of this message follow

_HEADER = struct.Struct(">2sBBHHH")
_TRAILER = struct.Struct(">I")
_OFFSET = struct.Struct(">I")
HEADER_SIZE = _HEADER.size  # 10
TRAILER_SIZE = _TRAILER.size  # 4
MAX_FRAME = HEADER_SIZE + MAX_PAYLOAD + TRAILER_SIZE  # 4110
MAX_MESSAGE = 256 * 1024  # a reassembled message (MORE frames) never grows beyond this
MAX_CHUNK = MAX_PAYLOAD - _OFFSET.size  # file bytes in one FILE_CHUNK

MANIFEST = "manifest.json"
MAX_FILE_SIZE = 1 << 20
MAX_FILES = 64
_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class FrameType(enum.IntEnum):
    HELLO = 0x01
    HELLO_ACK = 0x02
    FILE_BEGIN = 0x10
    FILE_CHUNK = 0x11
    FILE_END = 0x12
    COMMIT = 0x20
    RESULT = 0x30
    REPORT = 0x31
    ERROR = 0x3E
    ABORT = 0x3F
    ACK = 0x40
    NAK = 0x41


#: Frames that are neither acknowledged nor retransmitted, and never carry MORE.
CONTROL_TYPES = frozenset({FrameType.ACK, FrameType.NAK, FrameType.ABORT})
_TYPE_VALUES = frozenset(int(t) for t in FrameType)
_CONTROL_VALUES = frozenset(int(t) for t in CONTROL_TYPES)


# -- errors ----------------------------------------------------------------------------------------
# All are ProtocolErrors: the command lines of both ends print them and exit with status 2. (A port
# that cannot be opened is a presensi.hardware SerialPortError: opening ports is the hardware's.)


class FrameError(ProtocolError):
    """Bytes that are not exactly one valid frame (from :func:`decode_frame`)."""


class BundleError(ProtocolError):
    """The enrollment bundle on the laptop is missing, incomplete or inconsistent."""


class ConnectionLost(ProtocolError, OSError):
    """The port went away (cable pulled) or the other side stopped answering.

    ``port_gone`` is True when the port itself failed (unplugged), False when it is still there
    but nothing (or nothing intact) came back in time.
    """

    def __init__(self, message: str, *, port_gone: bool = False) -> None:
        super().__init__(message)
        self.port_gone = port_gone

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class ChecksumError(ProtocolError):
    """Frames kept arriving damaged after every retry, or a file failed its SHA-256 check."""


class ProtocolViolation(ProtocolError):
    """The other side sent something the protocol does not allow at this point."""


class StationRefused(ProtocolError):
    """The station refused the bundle; ``code`` is its ERROR code, ``reason`` its message."""

    def __init__(self, code: str, reason: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(f"the station refused the bundle ({code}): {reason}")
        self.code = code
        self.reason = reason
        self.details = details or {}


class WrongStation(StationRefused):
    """The station is already provisioned under another id and --replace was not given."""


# -- frames ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    type: FrameType
    seq: int
    payload: bytes = b""
    more: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.seq <= 0xFFFF:
            raise ValueError(f"seq must be 0-65535, not {self.seq}")
        if len(self.payload) > MAX_PAYLOAD:
            raise ValueError(f"payload of {len(self.payload)} bytes; at most {MAX_PAYLOAD}")
        if self.more and self.type in CONTROL_TYPES:
            raise ValueError(f"{self.type.name} frames cannot carry MORE")


def _header_check(header: bytes | bytearray) -> int:
    return binascii.crc_hqx(header, 0xFFFF)


def encode_frame(frame: Frame) -> bytes:
    """The bytes of `frame` on the wire."""
    type_byte = int(frame.type) | (MORE if frame.more else 0)
    fields = struct.pack(">BBHH", VERSION, type_byte, frame.seq, len(frame.payload))
    body = fields + struct.pack(">H", _header_check(fields)) + frame.payload
    return SOF + body + _TRAILER.pack(zlib.crc32(body))


def _valid_type(type_byte: int) -> bool:
    base = type_byte & ~MORE
    if base not in _TYPE_VALUES:
        return False
    return not (type_byte & MORE and base in _CONTROL_VALUES)


def decode_frame(data: bytes) -> Frame:
    """Exactly one frame from `data`; FrameError if it is anything else."""
    reader = FrameReader()
    frames = reader.feed(data)
    if len(frames) != 1 or reader.skipped_bytes or reader.bad_frames or reader.buffered:
        raise FrameError(f"not exactly one valid frame ({len(data)} bytes)")
    return frames[0]


class FrameReader:
    """Turns a byte stream, fed in any pieces, into frames; resynchronises after bad bytes.

    Never raises on input and never buffers more than one maximal frame. Counters:
    ``frames`` (returned), ``bad_frames`` (SOF found but header or CRC wrong),
    ``skipped_bytes`` (bytes outside any frame).
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD) -> None:
        if not 0 <= max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload must be 0-{MAX_PAYLOAD}, not {max_payload}")
        self._max_payload = max_payload
        self._buf = bytearray()
        self.frames = 0
        self.bad_frames = 0
        self.skipped_bytes = 0

    @property
    def buffered(self) -> int:
        """Bytes held back: the beginning of a frame still arriving (or a lone SOF byte)."""
        return len(self._buf)

    def flush(self) -> list[Frame]:
        """Stop waiting for the frame in progress (the line went quiet in the middle of it).

        Its first byte is dropped and the bytes behind it are scanned again; returns the whole
        frames found there (a frame cut short by a pulled cable may have swallowed good ones).
        Afterwards nothing is buffered.
        """
        found: list[Frame] = []
        buf = self._buf
        while buf:
            if len(buf) >= HEADER_SIZE:  # a checked header whose frame never completed
                self.bad_frames += 1
            else:
                self.skipped_bytes += 1
            del buf[:1]
            del buf[: self._scan(buf, found)]
        return found

    def clear(self) -> None:
        """Forget every buffered byte."""
        self.skipped_bytes += len(self._buf)
        self._buf.clear()

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """The frames completed by `data`, in order."""
        buf = self._buf
        buf += data
        found: list[Frame] = []
        pos = self._scan(buf, found)
        del buf[:pos]
        return found

    def _scan(self, buf: bytearray, found: list[Frame]) -> int:
        """Parse frames out of `buf` into `found`; return how many leading bytes are done."""
        size = len(buf)
        pos = 0
        while True:
            start = buf.find(SOF, pos)
            if start < 0:
                # keep a last byte that may be the first half of the next SOF
                end = size - 1 if size > pos and buf[-1] == SOF[0] else size
                self.skipped_bytes += end - pos
                return end
            self.skipped_bytes += start - pos
            pos = start
            if size - pos < HEADER_SIZE:
                return pos
            _, version, type_byte, seq, length, check = _HEADER.unpack_from(buf, pos)
            if (
                check != _header_check(buf[pos + 2 : pos + 8])
                or version != VERSION
                or length > self._max_payload
                or not _valid_type(type_byte)
            ):
                self.bad_frames += 1
                pos += 1
                continue
            end = pos + HEADER_SIZE + length
            if size < end + TRAILER_SIZE:
                return pos
            (crc,) = _TRAILER.unpack_from(buf, end)
            if crc != zlib.crc32(buf[pos + 2 : end]):
                self.bad_frames += 1
                pos += 1
                continue
            found.append(
                Frame(
                    FrameType(type_byte & ~MORE),
                    seq,
                    bytes(buf[pos + HEADER_SIZE : end]),
                    more=bool(type_byte & MORE),
                )
            )
            self.frames += 1
            pos = end + TRAILER_SIZE


# -- payloads --------------------------------------------------------------------------------------


def encode_json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def decode_json(payload: bytes, what: str) -> dict[str, Any]:
    """A JSON object payload; ProtocolViolation if it is not one."""
    try:
        obj = json.loads(payload.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ProtocolViolation(f"{what}: payload is not JSON ({exc})") from None
    if not isinstance(obj, dict):
        raise ProtocolViolation(f"{what}: payload is not a JSON object")
    return obj


def encode_chunk(offset: int, data: bytes) -> bytes:
    if len(data) > MAX_CHUNK:
        raise ValueError(f"a chunk holds at most {MAX_CHUNK} bytes, not {len(data)}")
    return _OFFSET.pack(offset) + data


def decode_chunk(payload: bytes) -> tuple[int, bytes]:
    if len(payload) < _OFFSET.size:
        raise ProtocolViolation("FILE_CHUNK: shorter than its 4-byte offset")
    (offset,) = _OFFSET.unpack_from(payload)
    return offset, payload[_OFFSET.size :]


def check_file_name(name: object) -> str:
    """A bundle file name: a plain name (letters, digits, '.', '_', '-'), no folders."""
    if not isinstance(name, str) or not _FILE_NAME.match(name):
        raise ProtocolViolation(f"bad bundle file name {name!r}: plain names only, no folders")
    return name


def check_sha256(value: object, what: str) -> str:
    if isinstance(value, str):
        value = value.lower().removeprefix("sha256:")
    if not isinstance(value, str) or not _SHA256.match(value):
        raise ProtocolViolation(f"{what}: not a SHA-256 hex digest: {value!r}")
    return value


def parse_manifest(data: bytes) -> dict[str, str]:
    """{file name: SHA-256 hex} from a bundle's manifest.json.

    Accepted shapes: ``{"files": [{"path" | "name": name, "sha256": ...}]}`` (what
    ``presensi provision station`` writes), ``{"files": {name: sha256 or {"sha256": ...}}}``,
    or a flat ``{name: sha256}`` (keys whose value is not a digest are then ignored). The
    manifest's own entry, if any, is left out. ValueError if it is unreadable or lists no file.
    """
    try:
        obj = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError(f"{MANIFEST} is not JSON: {exc}") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{MANIFEST} is not a JSON object")
    result: dict[str, str] = {}
    try:
        for name, digest in _manifest_entries(obj):
            checked = check_file_name(name)
            if checked != MANIFEST:
                result[checked] = check_sha256(digest, f"{MANIFEST}: {checked}")
    except ProtocolViolation as exc:
        raise ValueError(str(exc)) from None
    if not result:
        raise ValueError(f"{MANIFEST} lists no files")
    return result


def _manifest_entries(obj: dict[str, Any]) -> list[tuple[object, object]]:
    files = obj.get("files")
    if isinstance(files, list):
        if not all(isinstance(item, dict) for item in files):
            raise ValueError(f"{MANIFEST}: an entry of 'files' is not an object")
        return [(item.get("path", item.get("name")), item.get("sha256")) for item in files]
    if isinstance(files, dict):
        return [
            (name, value.get("sha256") if isinstance(value, dict) else value)
            for name, value in files.items()
        ]
    if files is not None:
        raise ValueError(f"{MANIFEST}: 'files' is neither a list nor an object")
    return [
        (name, value)
        for name, value in obj.items()
        if isinstance(value, str) and _SHA256.match(value.lower().removeprefix("sha256:"))
    ]


def manifest_modes(data: bytes) -> dict[str, int]:
    """{file name: permission bits} from the "mode" entries of a manifest's files list (the
    enrollment tool records e.g. "0600" for keys); files without a readable mode are left out."""
    try:
        files = json.loads(data.decode()).get("files")
    except (UnicodeDecodeError, ValueError, AttributeError):
        return {}
    items: list[tuple[object, object]] = []
    if isinstance(files, list):
        items = [
            (item.get("path", item.get("name")), item.get("mode"))
            for item in files
            if isinstance(item, dict)
        ]
    elif isinstance(files, dict):
        items = [(name, v.get("mode")) for name, v in files.items() if isinstance(v, dict)]
    modes: dict[str, int] = {}
    for name, mode in items:
        if isinstance(name, str) and isinstance(mode, str) and re.fullmatch(r"0?[0-7]{3}", mode):
            modes[name] = int(mode, 8) & 0o775  # never world-writable
    return modes


# -- the link --------------------------------------------------------------------------------------


class Port(Protocol):
    """The part of ``serial.Serial`` the link uses."""

    timeout: float | None

    @property
    def in_waiting(self) -> int: ...

    def read(self, size: int = 1) -> bytes: ...

    def write(self, data: bytes, /) -> int | None: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Message:
    """A data frame's payload, or the reassembled payloads of a MORE sequence."""

    type: FrameType
    payload: bytes

    def json(self) -> dict[str, Any]:
        return decode_json(self.payload, self.type.name)


def default_ack_timeout(baudrate: int) -> float:
    """Long enough for a maximal frame each way at `baudrate` (10 bits a byte), plus slack."""
    return 0.3 + 2 * MAX_FRAME * 10 / baudrate


class Link:
    """Reliable, ordered messages over a serial port (stop-and-wait ARQ; see the module doc).

    ``name`` (usually the port path) goes into error messages. ``poll_s`` is the longest a read
    blocks before the link looks at its deadlines again. Not thread-safe.
    """

    def __init__(
        self,
        port: Port,
        *,
        name: str = "serial port",
        ack_timeout: float = 0.5,
        retries: int = 5,
        poll_s: float = 0.05,
    ) -> None:
        if ack_timeout <= 0:
            raise ValueError(f"ack_timeout must be positive, not {ack_timeout}")
        if retries < 0:
            raise ValueError(f"retries must be 0 or more, not {retries}")
        self.name = name
        self.ack_timeout = ack_timeout
        self.retries = retries
        self._port = port
        self._port.timeout = poll_s
        self._reader = FrameReader()
        self._next_seq = random.randrange(0x10000)
        self._last_rx_seq: int | None = None
        self._inbox: deque[Message] = deque()
        self._partial_type: FrameType | None = None
        self._partial = bytearray()
        self._dropping = False
        self._awaiting: int | None = None  # seq of our data frame waiting for its ACK
        self._acked = False
        self._nak = False
        self.retransmissions = 0
        self.naks_sent = 0

    @property
    def bad_frames(self) -> int:
        return self._reader.bad_frames

    def reset(self) -> None:
        """Forget the peer: its last seq, queued and partial messages, half-read bytes."""
        self._last_rx_seq = None
        self._inbox.clear()
        self._partial_type = None
        self._partial.clear()
        self._dropping = False
        self._reader.clear()

    # -- sending ---------------------------------------------------------------------------------

    def send(self, type_: FrameType, payload: bytes = b"") -> None:
        """Send a message reliably (split into MORE frames if long); return once acknowledged.

        Raises ConnectionLost if the port fails or no ACK comes after every retry, and
        ChecksumError if the retries were used up on damaged frames.
        """
        if type_ in CONTROL_TYPES:
            raise ValueError(f"{type_.name} is not sent reliably; use send_control")
        if len(payload) > MAX_MESSAGE:
            raise ValueError(f"a message holds at most {MAX_MESSAGE} bytes")
        pieces = [payload[i : i + MAX_PAYLOAD] for i in range(0, len(payload), MAX_PAYLOAD)]
        pieces = pieces or [b""]
        for index, piece in enumerate(pieces):
            self._send_frame(type_, piece, more=index < len(pieces) - 1)

    def send_json(self, type_: FrameType, obj: dict[str, Any]) -> None:
        self.send(type_, encode_json(obj))

    def send_control(self, type_: FrameType, payload: bytes = b"", seq: int = 0) -> None:
        """Send one ACK, NAK or ABORT frame, once (no acknowledgement)."""
        if type_ not in CONTROL_TYPES:
            raise ValueError(f"{type_.name} is a data frame; use send")
        self._write(encode_frame(Frame(type_, seq, payload)))

    def _send_frame(self, type_: FrameType, payload: bytes, *, more: bool) -> None:
        seq = self._next_seq
        self._next_seq = (seq + 1) & 0xFFFF
        data = encode_frame(Frame(type_, seq, payload, more=more))
        damaged = 0
        started = time.monotonic()
        for attempt in range(self.retries + 1):
            if attempt:
                self.retransmissions += 1
            self._awaiting, self._acked, self._nak = seq, False, False
            bad_before = self._reader.bad_frames
            self._write(data)
            deadline = time.monotonic() + self.ack_timeout
            while not self._acked and not self._nak:
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._pump(left)
                if self._reader.bad_frames != bad_before:
                    self._nak = True  # whatever came back was damaged: perhaps our ACK
            self._awaiting = None
            if self._acked:
                return
            if self._nak:
                damaged += 1
            else:  # a frame that stopped arriving is not coming: look behind it
                for frame in self._reader.flush():
                    self._handle(frame)
        spent = time.monotonic() - started
        attempts = self.retries + 1
        if damaged:
            raise ChecksumError(
                f"{type_.name} frame to {self.name} not delivered intact after {attempts} "
                f"attempts ({damaged} came back damaged or were rejected as damaged): the line "
                "is too noisy. Check the cable (shorter, shielded, firmly plugged), the ground "
                "wire on a UART, and that no serial console (getty) shares the port"
            )
        raise ConnectionLost(
            f"no answer on {self.name} for {spent:.1f} s ({attempts} attempts to send "
            f"{type_.name}): the cable may be unplugged or the other side stopped"
        )

    # -- receiving -------------------------------------------------------------------------------

    def receive(self, timeout: float) -> Message | None:
        """The next message from the peer, or None if none completed within `timeout` seconds.

        Always reads what is already waiting, so ``receive(0)`` polls. Raises ConnectionLost if
        the port fails.
        """
        deadline = time.monotonic() + max(timeout, 0.0)
        first = True
        while not self._inbox:
            left = deadline - time.monotonic()
            if not first and left <= 0:
                return None
            first = False
            self._pump(max(left, 0.0))
        return self._inbox.popleft()

    # -- the port --------------------------------------------------------------------------------

    def _write(self, data: bytes) -> None:
        try:
            self._port.write(data)
        except OSError as exc:  # serial.SerialException and SerialTimeoutException are OSErrors
            raise ConnectionLost(
                f"cannot write to {self.name} ({exc}): the cable was pulled or the port closed",
                port_gone=True,
            ) from exc

    def _read(self, wait: float) -> bytes:
        """What is waiting, or else the first bytes within `wait` seconds (at most ~poll_s)."""
        try:
            waiting = self._port.in_waiting
            if waiting:
                return bytes(self._port.read(waiting))
            if wait <= 0:
                return b""
            data = bytes(self._port.read(1))  # blocks for at most the port's timeout (poll_s)
            if data:
                waiting = self._port.in_waiting
                if waiting:
                    data += bytes(self._port.read(waiting))
        except OSError as exc:  # SerialException from read, a bare OSError (EIO) from in_waiting
            raise ConnectionLost(
                f"{self.name} went away ({exc}): the cable was pulled or the device vanished",
                port_gone=True,
            ) from exc
        return data

    def _pump(self, wait: float) -> None:
        """Read for up to `wait` seconds and handle every frame that completes."""
        data = self._read(wait)
        if not data:
            return
        bad_before = self._reader.bad_frames
        frames = self._reader.feed(data)
        if self._reader.bad_frames != bad_before:
            self.naks_sent += 1
            self.send_control(FrameType.NAK)
        for frame in frames:
            self._handle(frame)

    def _handle(self, frame: Frame) -> None:
        if frame.type is FrameType.ACK:
            if self._awaiting is not None and frame.seq == self._awaiting:
                self._acked = True
            return
        if frame.type is FrameType.NAK:
            if self._awaiting is not None:
                self._nak = True
            return
        if frame.type is FrameType.ABORT:
            self._inbox.append(Message(frame.type, frame.payload))
            return
        self.send_control(FrameType.ACK, seq=frame.seq)
        if frame.seq == self._last_rx_seq:
            return  # a repeat: our ACK was lost
        self._last_rx_seq = frame.seq
        self._assemble(frame)

    def _assemble(self, frame: Frame) -> None:
        if self._dropping:  # the rest of a message that grew too long
            self._dropping = frame.more
            return
        if self._partial_type is not None and self._partial_type is not frame.type:
            logger.warning(
                "%s: %s message cut short by a %s frame; dropped",
                self.name,
                self._partial_type.name,
                frame.type.name,
            )
            self._partial_type = None
            self._partial.clear()
        if len(self._partial) + len(frame.payload) > MAX_MESSAGE:
            logger.warning("%s: %s message too long; dropped", self.name, frame.type.name)
            self._partial_type = None
            self._partial.clear()
            self._dropping = frame.more
            return
        if frame.more:
            self._partial_type = frame.type
            self._partial += frame.payload
            return
        payload = bytes(self._partial) + frame.payload
        self._partial_type = None
        self._partial.clear()
        self._inbox.append(Message(frame.type, payload))


def error_payload(code: str, message: str, **details: Any) -> bytes:
    return encode_json({"code": code, "message": message, **details})
