"""The tests run against the build they claim to: the .py sources, or the compiled (mypyc) build.

.ci/run runs the suite twice, the second time with the compiled modules in place and
CDS_EXPECT_COMPILED=1. A build that compiled only some modules, or compiled modules left in the tree
by a local build (they would shadow the .py files you edit), fail here.
"""

from __future__ import annotations

import importlib
import os
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def compiled_modules() -> list[str]:
    hook = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["hatch"]["build"]["targets"]["wheel"][
        "hooks"
    ]["mypyc"]
    excluded = {e.strip("/") for e in hook["exclude"]}
    files: list[Path] = []
    for entry in hook["include"]:
        path = ROOT / entry.strip("/")
        files.extend(sorted(path.glob("*.py")) if path.is_dir() else [path])
    names = [
        f.relative_to(ROOT).as_posix()
        for f in files
        if f.name not in excluded and f.relative_to(ROOT).as_posix() not in excluded
    ]
    return [n.removesuffix(".py").replace("/", ".") for n in names]


def test_the_compiled_set_is_the_per_call_pipeline() -> None:
    modules = compiled_modules()
    assert "cds.profile.derive" in modules and "cds.fhir.select" in modules
    assert "cds.profile.model" in modules  # the facts and the profile are built natively
    for name in modules:
        assert (ROOT / (name.replace(".", "/") + ".py")).is_file(), name


def test_every_module_is_from_the_build_under_test() -> None:
    expect_compiled = os.environ.get("CDS_EXPECT_COMPILED") == "1"
    for name in compiled_modules():
        origin = str(importlib.import_module(name).__file__)
        build = "compiled" if expect_compiled else "source"
        assert origin.endswith(".so") == expect_compiled, f"{name} is from {origin}, not the {build} build"
