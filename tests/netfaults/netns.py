"""Hosts joined by links, on one machine: Linux network namespaces and veth pairs (iproute2),
and faults on the links made by the kernel (nftables drops, links set down) or, for delay on a
kernel without netem, by tests/netfaults/relay.py.

    core        the broker, the hub and the relay, in a namespace of their own
    st1..stN    one namespace per station, each joined to core by its own veth pair
                (core side 10.X.N.1, station side 10.X.N.2)

Everything is named after this process (prsn<pid>...) so parallel runs never meet, and
`close()` removes it all. Root is needed, as in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

IP = shutil.which("ip") or "/usr/sbin/ip"
NFT = shutil.which("nft") or "/usr/sbin/nft"
TC = shutil.which("tc") or "/usr/sbin/tc"


class NetUnavailable(RuntimeError):
    """The kernel or the tools refuse what the network tests need (the message says what)."""


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(list(args), capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise NetUnavailable(f"{' '.join(args)}: {done.stderr.strip() or done.stdout.strip()}")
    return done


@dataclass
class Link:
    station: int
    namespace: str  # the station's namespace
    core_if: str
    station_if: str
    core_ip: str
    station_ip: str


@dataclass
class Net:
    stations: int
    tag: str = field(default_factory=lambda: f"prsn{os.getpid() % 100000}")
    links: list[Link] = field(default_factory=list)
    netem: bool = False  # the kernel has netem (tc qdisc ... netem)

    @property
    def core(self) -> str:
        return f"{self.tag}c"

    def up(self) -> Net:
        if os.geteuid() != 0:
            raise NetUnavailable("network namespaces need root (CI runs the suite as root)")
        net = 10 + os.getpid() % 200  # 10.X.N.0/30 per station
        _run(IP, "netns", "add", self.core)
        _run(IP, "-n", self.core, "link", "set", "lo", "up")
        for n in range(1, self.stations + 1):
            ns = f"{self.tag}s{n}"
            link = Link(
                n, ns, f"{self.tag}a{n}", f"{self.tag}b{n}", f"10.{net}.{n}.1", f"10.{net}.{n}.2"
            )
            _run(IP, "netns", "add", ns)
            _run(IP, "-n", ns, "link", "set", "lo", "up")
            _run(IP, "link", "add", link.core_if, "type", "veth", "peer", "name", link.station_if)
            _run(IP, "link", "set", link.core_if, "netns", self.core)
            _run(IP, "link", "set", link.station_if, "netns", ns)
            _run(IP, "-n", self.core, "addr", "add", f"{link.core_ip}/30", "dev", link.core_if)
            _run(IP, "-n", ns, "addr", "add", f"{link.station_ip}/30", "dev", link.station_if)
            _run(IP, "-n", self.core, "link", "set", link.core_if, "up")
            _run(IP, "-n", ns, "link", "set", link.station_if, "up")
            self.links.append(link)
        probe = _run(
            IP, "netns", "exec", self.core, TC, "qdisc", "add", "dev", self.links[0].core_if,
            "root", "netem", "delay", "1ms", check=False,
        )  # fmt: skip
        self.netem = probe.returncode == 0
        if self.netem:
            _run(
                IP,
                "netns",
                "exec",
                self.core,
                TC,
                "qdisc",
                "del",
                "dev",
                self.links[0].core_if,
                "root",
            )
        return self

    def exec_prefix(self, namespace: str) -> list[str]:
        return [IP, "netns", "exec", namespace]

    # -- faults on a station's link ------------------------------------------------------------

    def loss(self, link: Link, percent: int) -> None:
        """Drop `percent` % of the packets either way on the station's link (0: none)."""
        ns = link.namespace
        _run(IP, "netns", "exec", ns, NFT, "delete", "table", "inet", "prsnloss", check=False)
        if percent <= 0:
            return
        drop = f"numgen random mod 100 < {percent} drop;"
        rules = (
            "table inet prsnloss {\n"
            f"  chain in {{ type filter hook input priority 0; {drop} }}\n"
            f"  chain out {{ type filter hook output priority 0; "
            f'oifname "{link.station_if}" {drop} }}\n'
            "}\n"
        )
        done = subprocess.run(
            [IP, "netns", "exec", ns, NFT, "-f", "-"],
            input=rules,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise NetUnavailable(f"nft: {done.stderr.strip()}")

    def set_link(self, link: Link, up: bool) -> None:
        """The station's cable plugged in or pulled (both ends, as a real cut would)."""
        state = "up" if up else "down"
        _run(IP, "-n", link.namespace, "link", "set", link.station_if, state)
        _run(IP, "-n", self.core, "link", "set", link.core_if, state)

    def close(self) -> None:
        for link in self.links:
            _run(IP, "netns", "del", link.namespace, check=False)
        _run(IP, "netns", "del", self.core, check=False)
        self.links.clear()


def available() -> str | None:
    """None if this machine can run the network tests, else why not."""
    if os.geteuid() != 0:
        return "network namespaces need root"
    for tool in (IP, NFT):
        if not Path(tool).exists():
            return f"{tool} is missing (apt-get install iproute2 nftables)"
    probe = f"prsnprobe{os.getpid() % 100000}"
    done = _run(IP, "netns", "add", probe, check=False)
    if done.returncode != 0:
        return f"the kernel refuses network namespaces: {done.stderr.strip()}"
    _run(IP, "netns", "del", probe, check=False)
    return None
