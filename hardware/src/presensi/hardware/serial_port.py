"""Opening a serial line with pyserial, with an error that says what to do about it.

The serial QR scanner module, the station's provisioning agent and the installer's flash tool
all open their ports here: raw and exclusive (a second reader on the same port would steal half
of the bytes, and the messages of both would come out split).
"""

from __future__ import annotations

import errno
from typing import Any

from presensi.hardware.errors import SerialPortError

_NOT_FOUND = {errno.ENOENT, errno.ENODEV, errno.ENXIO}
_NO_PERMISSION = {errno.EACCES, errno.EPERM}
_BUSY = {errno.EBUSY, errno.EAGAIN, errno.EWOULDBLOCK}


def open_serial_port(
    path: str,
    baudrate: int,
    *,
    what: str = "serial port",
    timeout: float = 0.0,
    write_timeout: float | None = None,
) -> Any:  # a serial.Serial; callers type it with the Protocol of the methods they use
    """Open `path` (`what` names the device in messages); SerialPortError says why it cannot."""
    try:
        import serial
    except ImportError as exc:
        raise SerialPortError(
            f"cannot open {what} {path}: pyserial is not installed (pip install presensi-hardware)"
        ) from exc
    try:
        return serial.Serial(
            port=path,
            baudrate=baudrate,
            timeout=timeout,
            write_timeout=write_timeout,
            exclusive=True,
        )
    except OSError as exc:  # serial.SerialException is an OSError
        raise SerialPortError(explain_open_failure(what, path, exc)) from exc


def explain_open_failure(what: str, path: str, exc: OSError) -> str:
    where = f"{what} {path}"
    if exc.errno in _NOT_FOUND:
        return (
            f"{where} not found: check the cable (and the device's power), "
            "and look for its name with `ls /dev/serial/by-id`"
        )
    if exc.errno in _NO_PERMISSION:
        return (
            f"no permission to open {where}: add your user (or the station's) to the 'dialout' "
            "group and log in again"
        )
    if exc.errno in _BUSY:
        return (
            f"{where} is in use by another program "
            "(a second station, a terminal emulator, a getty, another flash?)"
        )
    return (
        f"cannot open {where} ({exc}): check the cable "
        "and look for its name with `ls /dev/serial/by-id`"
    )
