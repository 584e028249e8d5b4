"""Writing a file so that a crash leaves either the old or the new content, never half.

The one atomic writer of every part that writes files a reader must never see half-written:
the station's settings, fleet lists and journal exports, and the admin tools' org folder,
broker files and enrollment bundles.
"""

from __future__ import annotations

import grp
import json
import os
import tempfile
from pathlib import Path


def write_atomically(
    path: Path, data: bytes | str, *, mode: int = 0o644, group: str | int | None = None
) -> None:
    """Replace `path` with `data` (str is written as UTF-8): a new file beside it, fsynced, renamed
    over it, and the rename fsynced too. The file gets `mode`, and `group` (a name or gid) if
    given; on any failure the old file stays and no temporary file is left behind."""
    path = Path(path)
    body = data.encode("utf-8") if isinstance(data, str) else data
    gid = -1 if group is None else _gid(group)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            os.fchmod(fh.fileno(), mode)
            if gid != -1:
                os.fchown(fh.fileno(), -1, gid)
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself must reach the disk too
    finally:
        os.close(directory)


def _gid(group: str | int) -> int:
    return group if isinstance(group, int) else grp.getgrnam(group).gr_gid


def json_version(path: Path) -> int:
    """The "version" of a versioned JSON document (key list, revocation list); 0 if none."""
    try:
        version = json.loads(path.read_text()).get("version", 0)
    except (OSError, ValueError, AttributeError):
        return 0
    return version if isinstance(version, int) else 0
