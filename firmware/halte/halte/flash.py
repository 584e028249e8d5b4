"""The board's file system, in the few operations the journal needs (tests put a fake flash with
a capacity and torn writes in its place)."""

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import IO


class Flash:
    def __init__(self, folder: str) -> None:
        self.folder = folder
        try:
            os.mkdir(folder)
        except OSError:
            pass  # already there

    def path(self, name: str) -> str:
        return self.folder + "/" + name

    def names(self) -> list[str]:
        return sorted(os.listdir(self.folder))

    def size(self, name: str) -> int:
        return os.stat(self.path(name))[6]

    def append(self, name: str, data: bytes) -> None:
        """Append and commit: on littlefs a file's new bytes are durable once it is closed."""
        with open(self.path(name), "ab") as f:
            f.write(data)
            f.flush()
        _sync()

    def replace(self, name: str, data: bytes) -> None:
        """Write a whole file under a temporary name, then rename it over the old one."""
        tmp = self.path(name + ".tmp")
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
        os.rename(tmp, self.path(name))
        _sync()

    def open(self, name: str) -> IO[bytes]:
        f: IO[bytes] = open(self.path(name), "rb")
        return f

    def rename(self, name: str, new: str) -> None:
        os.rename(self.path(name), self.path(new))
        _sync()

    def remove(self, name: str) -> None:
        os.remove(self.path(name))

    def free_bytes(self) -> int:
        st = os.statvfs(self.folder)
        return st[0] * st[4]


def _sync() -> None:
    sync = getattr(os, "sync", None)
    if sync is not None:
        sync()
