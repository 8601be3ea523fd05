"""The README's settings table lists every setting the code reads: each field of
`fragstats.settings.Settings` (as its `FRAGSTATS_*` variable) and every other `FRAGSTATS_*`
variable a module reads (the CLI's `FRAGSTATS_URL`, `FRAGSTATS_SERVER_TOKEN`). A setting the table
lacks is a setting a user cannot find; a row without a setting is a promise the code does not keep.
"""

from __future__ import annotations

import re
import tomllib

from conftest import ROOT
from fragstats.settings import Settings

PACKAGES = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
CODE = [p for p in PACKAGES if "." not in p]


def documented() -> set[str]:
    readme = (ROOT / "README.md").read_text()
    table = readme.split("## Settings", 1)[1].split("\n## ", 1)[0]
    return {name for row in table.splitlines() if row.startswith("| `FRAGSTATS_")
            for name in re.findall(r"`(FRAGSTATS_[A-Z0-9_]+)`", row.split("|")[1])}


def read_by_code() -> set[str]:
    names = {"FRAGSTATS_" + field.upper() for field in Settings.model_fields}
    for package in CODE:
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"FRAGSTATS_[A-Z0-9_]*[A-Z0-9](?![A-Z0-9_*])", path.read_text()))  # not `FRAGSTATS_X_*`
    return names


def test_every_setting_the_code_reads_is_in_the_readme_table():
    missing = read_by_code() - documented()
    assert not missing, f"settings read by the code but not in the README's table: {sorted(missing)}"


def test_every_row_of_the_table_is_read_by_the_code():
    stale = documented() - read_by_code()
    assert not stale, f"README rows no code reads: {sorted(stale)}"
