"""The import contract (pyproject.toml, `[tool.importlinter]`) covers the whole code base.

`lint-imports` (run by tests/run.sh, the README's test command) checks the contract itself: the
assembly imports the features, the features never import one another, the ground imports no
feature. Here: that every module of `fragstats` sits on exactly one floor of it, and every code
package of the distribution is a root package and a feature (or the kernel), so that a new module
or package cannot slip past the contract unchecked.
"""

from __future__ import annotations

import tomllib

from conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
CONTRACT = next(c for c in PYPROJECT["tool"]["importlinter"]["contracts"] if c["type"] == "layers")


def floor(index: int) -> set[str]:
    return {name.strip() for part in CONTRACT["layers"][index].split("|") for name in part.split(":")}


def test_every_kernel_module_is_on_one_floor():
    assembly, ground = floor(0), floor(2)
    modules = {f"fragstats.{p.stem}" for p in (ROOT / "fragstats").glob("*.py") if p.stem != "__init__"}
    assert not assembly & ground
    assert modules == assembly | ground, f"not on a floor: {modules - assembly - ground}; gone: {(assembly | ground) - modules}"
    assert assembly == {"fragstats.app", "fragstats.cli", "fragstats.openapi"}


def test_every_code_package_is_checked():
    code = {p for p in PYPROJECT["tool"]["setuptools"]["packages"] if "." not in p}
    assert set(PYPROJECT["tool"]["importlinter"]["root_packages"]) == code
    features = floor(1)
    assert features == code - {"fragstats"}
    assert "|" in CONTRACT["layers"][1]  # independent siblings: they never import one another
