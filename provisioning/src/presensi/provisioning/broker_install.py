"""Installing the broker files where a stock Debian Mosquitto reads them.

`presensi provision broker` and `presensi provision station` keep the password file, the ACL
and the config in the organisation folder (ORG/broker/, private to the admin). The broker
reads its own copies, as the `mosquitto` user it drops to after starting:

    /etc/mosquitto/presensi/passwd     root:mosquitto 0640
    /etc/mosquitto/presensi/acl        root:mosquitto 0640
    /etc/mosquitto/conf.d/presensi.conf            0644  (Debian's mosquitto.conf includes conf.d/)

`install()` copies them there (atomically, with that owner and mode) and reloads Mosquitto
(SIGHUP: it rereads the password file and the ACL; a changed listener needs a restart).
On another host than the broker's, copy the same three files to the same places.
"""

from __future__ import annotations

import grp
import os
import signal
import subprocess
from dataclasses import dataclass
from pathlib import Path

from presensi.device.files import write_atomically
from presensi.provisioning.broker import BrokerProvisioningError

ETC = Path("/etc/mosquitto")
INSTALL_SUBDIR = "presensi"
SNIPPET = "presensi.conf"
GROUP = "mosquitto"


@dataclass(frozen=True)
class Installed:
    passwd: Path
    acl: Path
    conf: Path
    reloaded: str  # how Mosquitto was told, or why it was not


def installed_paths(etc: Path = ETC) -> tuple[Path, Path]:
    """Where the broker reads the password file and the ACL (what the snippet names)."""
    return etc / INSTALL_SUBDIR / "passwd", etc / INSTALL_SUBDIR / "acl"


def install(
    source: Path,
    *,
    etc: Path = ETC,
    group: str = GROUP,
    reload: bool = True,
    pid_file: Path | None = None,
) -> Installed:
    """Copy ORG/broker's passwd, acl and presensi.conf into `etc`, readable by `group`."""
    try:
        gid = grp.getgrnam(group).gr_gid
    except KeyError:
        raise BrokerProvisioningError(
            f"no group {group!r} here: is Mosquitto installed (apt-get install mosquitto)? "
            "Or give --group"
        ) from None
    files = {name: source / name for name in ("passwd", "acl", SNIPPET)}
    missing = [str(p) for p in files.values() if not p.is_file()]
    if missing:
        raise BrokerProvisioningError(
            f"missing {', '.join(missing)}. Fix: run `presensi provision broker` first"
        )
    passwd, acl = installed_paths(etc)
    conf = etc / "conf.d" / SNIPPET
    _check_snippet_names(files[SNIPPET], passwd, acl)
    for path in (passwd.parent, conf.parent):
        path.mkdir(parents=True, exist_ok=True)
    passwd.parent.chmod(0o750)
    os.chown(passwd.parent, -1, gid)
    write_atomically(passwd, files["passwd"].read_bytes(), mode=0o640, group=gid)
    write_atomically(acl, files["acl"].read_bytes(), mode=0o640, group=gid)
    write_atomically(conf, files[SNIPPET].read_bytes(), mode=0o644)
    main = etc / "mosquitto.conf"
    if main.exists() and "include_dir" not in main.read_text(encoding="utf-8", errors="replace"):
        raise BrokerProvisioningError(
            f"{main} does not include {conf.parent}/: add the line `include_dir {conf.parent}` "
            "to it (Debian's own mosquitto.conf has it)"
        )
    how = _reload(pid_file or Path("/run/mosquitto/mosquitto.pid")) if reload else "not asked"
    return Installed(passwd, acl, conf, how)


def _check_snippet_names(snippet: Path, passwd: Path, acl: Path) -> None:
    """The snippet must name the files where they are installed, or the broker would read
    other (or no) files: `provision broker --install-dir` and `--etc` have to agree."""
    named = {}
    for line in snippet.read_text(encoding="utf-8", errors="replace").splitlines():
        key, _, value = line.strip().partition(" ")
        if key in ("password_file", "acl_file"):
            named[key] = value.strip()
    for key, path in (("password_file", passwd), ("acl_file", acl)):
        if named.get(key) != str(path):
            raise BrokerProvisioningError(
                f"{snippet} names {key} {named.get(key)!r}, but it would be installed as {path}. "
                f"Fix: run `presensi provision broker` again with --install-dir {path.parent}, "
                "or give broker-install the --etc that matches"
            )


def _reload(pid_file: Path) -> str:
    try:
        pid = int(pid_file.read_text().strip())
    except (OSError, ValueError):
        done = subprocess.run(
            ["systemctl", "reload", "mosquitto"], capture_output=True, text=True, check=False
        )
        if done.returncode == 0:
            return "systemctl reload mosquitto"
        return "Mosquitto does not seem to run here: start it (systemctl start mosquitto)"
    try:
        os.kill(pid, signal.SIGHUP)
    except OSError as exc:
        return f"could not signal Mosquitto (pid {pid}: {exc}): `systemctl reload mosquitto`"
    return f"SIGHUP to Mosquitto (pid {pid})"
