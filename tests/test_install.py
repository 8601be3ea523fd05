"""A regular (non-editable) install runs: build the wheel, install it into a fresh virtualenv, start
`fragstats serve` from a folder outside the repository, and see the migrations, templates and
static files that the wheel must carry.

The venv sees the system's site-packages (so chDB, Postgres and the rest need not be installed
again), but imports fragstats from the wheel: the test checks where every package comes from.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conftest import ADMIN, MOHAA_KILL, ROOT

PACKAGES = ("fragstats", "ingest", "query", "tournaments")
# What a clone holds that a build does not need (and that a developer's tree may have lying around).
NOT_SOURCE = shutil.ignore_patterns(".git", "build", "dist", "*.egg-info", "__pycache__", ".fragstats",
                                    ".pytest_cache", ".hypothesis", "artifacts", "RESULTS*")


def run(*argv: str | Path, cwd: Path, env: dict[str, str]) -> str:
    out = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, f"{argv} failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
    return out.stdout


def test_wheel_installs_and_serves_from_outside_the_repo(tmp_path, serve_factory):
    # The environment of a user who is not in the repository: no PYTHONPATH, another folder.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    env["PIP_ROOT_USER_ACTION"] = "ignore"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    # Build from a copy of the tree (links kept as links, as in a clone), so the build leaves
    # nothing behind in the repository.
    source = tmp_path / "source"
    shutil.copytree(ROOT, source, symlinks=True, ignore=NOT_SOURCE)
    run(sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", tmp_path / "wheels", source,
        cwd=elsewhere, env=env)
    (wheel,) = (tmp_path / "wheels").glob("fragstats-*.whl")
    shutil.rmtree(source)  # nothing can be read from it any more

    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", "--system-site-packages", venv, cwd=elsewhere, env=env)
    python = venv / "bin" / "python"
    # --ignore-installed: the system's site-packages may hold an editable fragstats of the same version.
    run(python, "-m", "pip", "install", "-q", "--no-deps", "--ignore-installed", wheel, cwd=elsewhere, env=env)

    where = json.loads(run(python, "-c", "import json, importlib, fragstats.migrations as m; print(json.dumps("
                           "{**{p: importlib.import_module(p).__file__ for p in %r}, 'sql': str(m.POSTGRES_DIR)}))"
                           % (PACKAGES,), cwd=elsewhere, env=env))
    site = str(venv.resolve())
    assert all(Path(f).resolve().is_relative_to(site) for f in where.values()), where

    serve = serve_factory(env={"PYTHONPATH": None, "FRAGSTATS_FLUSH_INTERVAL_MS": "50",
                               "FRAGSTATS_STATS_CACHE_S": "0"},
                          data_dir=tmp_path / "data", command=[str(venv / "bin" / "fragstats")], cwd=elsewhere)
    started = time.monotonic()
    serve.start()  # /ready answered 200: all three engines up, migrations done
    assert time.monotonic() - started < 60

    log = serve.log.read_text()
    assert "migrations applied" in log
    for name in ("0001_servers.sql", "0003_tournament_events.sql", "0002_raw_events.sql", "0004_aggregates.sql"):
        assert name in log, name

    with httpx.Client(base_url=serve.url, timeout=10) as http:
        # Postgres migrations: servers table; ClickHouse DDL: raw_events and its views.
        created = http.post("/api/v1/servers", json={"name": "wheel"}, headers=ADMIN)
        assert created.status_code == 201, created.text
        ingest = http.post("/api/v1/ingest/events", content=MOHAA_KILL.read_bytes(),
                           headers={"X-Server-Token": created.json()["token"], "Content-Type": "application/json"})
        assert ingest.status_code == 202 and ingest.json()["accepted"] == 1, ingest.text
        board: list = []
        deadline = time.monotonic() + 15
        while not board and time.monotonic() < deadline:
            time.sleep(0.2)
            board = http.get("/api/v1/stats/leaderboard", params={"stat": "suicides"}).json()["players"]
        # The real batch is a grenade suicide: a suicide, never a kill.
        assert [(p["player_name"], p["suicides"], p["kills"]) for p in board] == [("Daichi", 1, 0)], board

        # Templates of the kernel (layout, docs) and of both page packages.
        for path, marker in (("/", '<link rel="stylesheet" href="/static/style.css">'),
                             ("/leaderboard?stat=suicides", "Daichi"),
                             ("/tournaments", "<h1"), ("/docs", "openapi.json")):
            page = http.get(path)
            assert page.status_code == 200 and page.headers["content-type"].startswith("text/html"), path
            assert marker in page.text, path
        # Static files, byte for byte what the repository holds.
        for path in ("/static/style.css", "/static/vendor/htmx.min.js", "/static/favicon.svg"):
            got = http.get(path)
            assert got.status_code == 200, path
            assert got.content == (ROOT / "query" / path.removeprefix("/")).read_bytes(), path
