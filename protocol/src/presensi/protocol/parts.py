"""Which Presensi distributions are installed, and their versions (from the installed metadata:
`presensi` is a namespace package, so no part can speak for the whole with a `__version__`)."""

from __future__ import annotations

import importlib.metadata


def installed_parts() -> dict[str, str]:
    """Each installed Presensi distribution and its version, by name."""
    parts: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = str(dist.metadata["Name"] or "")
        if name == "presensi" or name.startswith("presensi-"):
            parts[name] = dist.version
    return dict(sorted(parts.items()))


def part_version(distribution: str) -> str:
    """The installed version of one of our distributions ("unknown" in a source tree)."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
