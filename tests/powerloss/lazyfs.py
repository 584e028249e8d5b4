"""A file system that forgets what was not synced: the idea of LazyFS, small and our own.

    python -m tests.powerloss.lazyfs BACKING MOUNTPOINT

mounts BACKING at MOUNTPOINT through FUSE (mfusepy over libfuse 3) and runs in the foreground.
File data written through the mount is kept in this process's memory until the file is
fsynced (fsync or fdatasync), which writes the file's whole current content to BACKING and
fsyncs it there. Killing this process (SIGKILL) is the power cut: every write not synced is
gone, and BACKING holds exactly what a disk would hold after power returns. Unmount the dead
mount (`fusermount3 -u -z`) and mount again to boot.

What it models: lost unsynced data writes, per file, at any moment, including a file extended
or truncated but not synced; a process that wrote and was told "done" by write(2) but never
fsynced. SQLite's WAL and its -shm file work on it (the -shm file is never synced, as on a
real disk after a power cut its content is whatever was written back, here: what was synced).

What it does not model: lost metadata operations (creating, renaming and deleting files take
effect on BACKING at once, as if the directory were always synced), reordering of synced
writes, torn (partly written) sectors or pages, a disk that lies about fsync, and file
system corruption. Those need a block-level tool (dm-log-writes, a real power cut).
"""

from __future__ import annotations

import errno
import os
import sys
import threading
from pathlib import Path
from typing import Any

import mfusepy as fuse


class _File:
    """One file's current content while it has unsynced changes."""

    def __init__(self, data: bytearray) -> None:
        self.data = data


class LazyFS(fuse.Operations):  # type: ignore[misc]
    use_ns = True

    def __init__(self, backing: str) -> None:
        self.backing = os.path.realpath(backing)
        self._dirty: dict[str, _File] = {}  # backing path -> unsynced content
        self._lock = threading.RLock()
        self._fds: dict[int, str] = {}
        self._next_fh = 1

    # -- paths ----------------------------------------------------------------------------

    def _real(self, path: str) -> str:
        return os.path.join(self.backing, path.lstrip("/"))

    def _load(self, real: str) -> _File:
        file = self._dirty.get(real)
        if file is None:
            with open(real, "rb") as f:
                file = _File(bytearray(f.read()))
            self._dirty[real] = file
        return file

    # -- metadata (passes through at once) ------------------------------------------------

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        real = self._real(path)
        try:
            st = os.lstat(real)
        except OSError as exc:
            raise fuse.FuseOSError(exc.errno) from None
        attrs = {
            key: getattr(st, key)
            for key in (
                "st_mode",
                "st_nlink",
                "st_uid",
                "st_gid",
                "st_size",
                "st_atime_ns",
                "st_mtime_ns",
                "st_ctime_ns",
            )
        }
        attrs["st_atime"] = st.st_atime_ns
        attrs["st_mtime"] = st.st_mtime_ns
        attrs["st_ctime"] = st.st_ctime_ns
        with self._lock:
            file = self._dirty.get(real)
            if file is not None:
                attrs["st_size"] = len(file.data)
        return attrs

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._real(path))]

    def access(self, path: str, amode: int) -> int:
        if not os.access(self._real(path), amode):
            raise fuse.FuseOSError(errno.EACCES)
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._real(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._real(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self._real(path), ns=times)
        return 0

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._real(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._real(path))
        return 0

    def unlink(self, path: str) -> int:
        real = self._real(path)
        with self._lock:
            os.unlink(real)
            self._dirty.pop(real, None)
        return 0

    def rename(self, old: str, new: str) -> int:
        src, dst = self._real(old), self._real(new)
        with self._lock:
            os.rename(src, dst)
            if src in self._dirty:
                self._dirty[dst] = self._dirty.pop(src)
            else:
                self._dirty.pop(dst, None)
        return 0

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._real(path))
        return {
            key: getattr(st, key)
            for key in (
                "f_bavail",
                "f_bfree",
                "f_blocks",
                "f_bsize",
                "f_favail",
                "f_ffree",
                "f_files",
                "f_flag",
                "f_frsize",
                "f_namemax",
            )
        }

    # -- file data (held until fsync) -----------------------------------------------------

    def create(self, path: str, mode: int, fi: Any = None) -> int:
        real = self._real(path)
        fd = os.open(real, os.O_WRONLY | os.O_CREAT, mode)
        os.close(fd)
        return self._handle(real)

    def open(self, path: str, flags: int) -> int:
        real = self._real(path)
        if not os.path.exists(real):
            raise fuse.FuseOSError(errno.ENOENT)
        if flags & os.O_TRUNC:
            with self._lock:
                self._load(real).data.clear()
        return self._handle(real)

    def _handle(self, real: str) -> int:
        with self._lock:
            fh = self._next_fh
            self._next_fh += 1
            self._fds[fh] = real
        return fh

    def release(self, path: str, fh: int) -> int:
        with self._lock:
            self._fds.pop(fh, None)
        return 0

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        real = self._real(path)
        with self._lock:
            file = self._dirty.get(real)
            if file is not None:
                return bytes(file.data[offset : offset + size])
        with open(real, "rb") as f:
            f.seek(offset)
            return f.read(size)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        real = self._real(path)
        with self._lock:
            buf = self._load(real).data
            end = offset + len(data)
            if len(buf) < offset:
                buf.extend(b"\0" * (offset - len(buf)))
            buf[offset:end] = data
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        real = self._real(path)
        with self._lock:
            buf = self._load(real).data
            if length < len(buf):
                del buf[length:]
            else:
                buf.extend(b"\0" * (length - len(buf)))
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        self._sync(self._real(path))
        return 0

    def flush(self, path: str, fh: int) -> int:
        return 0  # close(2) is not a sync

    def fsyncdir(self, path: str, datasync: int, fh: int) -> int:
        return 0

    def _sync(self, real: str) -> None:
        with self._lock:
            file = self._dirty.pop(real, None)
            if file is None:
                return
            fd = os.open(real, os.O_WRONLY)
            try:
                os.ftruncate(fd, len(file.data))
                os.pwrite(fd, bytes(file.data), 0)
                os.fsync(fd)
            finally:
                os.close(fd)


def main(argv: list[str]) -> int:
    backing, mountpoint = argv
    Path(backing).mkdir(parents=True, exist_ok=True)
    Path(mountpoint).mkdir(parents=True, exist_ok=True)
    fuse.FUSE(LazyFS(backing), mountpoint, foreground=True, nothreads=False, allow_other=False)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
