"""The parts' distributions agree with their code: each declares exactly the parts it imports,
versions move in lockstep, and every command group the launcher knows of is provided by the
distribution it names. (Third-party imports are checked by deptry and the layering by
import-linter, both in `make lint`.)"""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path
from typing import Any

import grimp
import pytest
from packaging.requirements import Requirement

from presensi.protocol.cli import PROVIDERS

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("protocol", "hardware", "device", "hub", "provisioning", "demo")


@cache
def project(folder: str) -> dict[str, Any]:
    meta: dict[str, Any] = tomllib.loads((ROOT / folder / "pyproject.toml").read_text())["project"]
    return meta


def requirements(folder: str) -> list[Requirement]:
    meta = project(folder)
    listed = list(meta.get("dependencies", []))
    for extra in meta.get("optional-dependencies", {}).values():
        listed.extend(extra)
    return [Requirement(text) for text in listed]


def declared_parts(folder: str) -> set[str]:
    return {r.name.removeprefix("presensi-") for r in requirements(folder) if r.name in DISTS}


DISTS = {f"presensi-{part}" for part in PARTS}


@cache
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*(f"presensi.{part}" for part in PARTS))


def imported_parts(part: str) -> set[str]:
    found: set[str] = set()
    for module in graph().find_children(f"presensi.{part}") | {f"presensi.{part}"}:
        for name in graph().find_descendants(module) | {module}:
            for target in graph().find_modules_directly_imported_by(name):
                found.add(target.split(".")[1])
    return found - {part}


@pytest.mark.parametrize("part", PARTS)
def test_a_part_declares_exactly_the_parts_it_imports(part: str) -> None:
    assert imported_parts(part) == declared_parts(part)


def test_the_import_graph_is_not_empty() -> None:
    """Guards the test above against a graph that found nothing (it would pass vacuously)."""
    assert imported_parts("device") >= {"protocol", "hardware"}
    assert imported_parts("protocol") == set()


@pytest.mark.parametrize("part", PARTS)
def test_parts_move_in_lockstep(part: str) -> None:
    version = project(".")["version"]
    assert project(part)["version"] == version
    for req in requirements(part):
        if req.name in DISTS:
            assert str(req.specifier) == f"=={version}", f"{part}: {req}"


def test_the_meta_distribution_holds_every_part() -> None:
    names = {Requirement(text).name for text in project(".")["dependencies"]}
    assert names == DISTS


def test_every_command_group_is_provided_by_the_distribution_the_launcher_names() -> None:
    provided: dict[str, str] = {}
    for part in PARTS:
        for name in project(part).get("entry-points", {}).get("presensi.commands", {}):
            if "." not in name:
                provided[name] = f"presensi-{part}"
    assert provided == PROVIDERS
