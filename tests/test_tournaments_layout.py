"""The tournaments package's shape (issue 11): route modules are leaves over `tournaments.http` and
the store, no private name crosses a module, every route is listed in `tournaments.routes`, and the
package's errors are answered by the app's one handler for errors that carry their status."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from helpers import ok

import tournaments
from fragstats.errors import StatusError
from tournaments import errors

PACKAGE = Path(tournaments.__file__).parent
ROUTE_MODULES = {"bracket_routes", "event_routes", "result_routes", "pages"}


def imports_of(path: Path) -> list[tuple[str, list[str]]]:
    """(module imported relative to the package, names) of every `from .x import ...` in `path`."""
    tree = ast.parse(path.read_text())
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                out.append((node.module, [a.name for a in node.names]))
            else:
                out += [(a.name, []) for a in node.names]
    return out


def test_route_modules_are_leaves_and_no_private_name_crosses_a_module() -> None:
    for path in sorted(PACKAGE.glob("*.py")):
        for module, names in imports_of(path):
            assert not [n for n in names if n.startswith("_")], (path.name, module, names)
            if path.stem != "routes":  # the one list of routes imports the route modules; nothing else does
                assert module not in ROUTE_MODULES | {"routes"}, (path.name, module)


def test_every_error_maps_to_a_status_in_its_class() -> None:
    for cls in vars(errors).values():
        if isinstance(cls, type) and issubclass(cls, errors.TournamentError):
            assert issubclass(cls, StatusError) and 400 <= cls.http_status < 500, cls
            assert cls.code == "".join("_" + c.lower() if c.isupper() else c for c in cls.__name__).lstrip("_")
    assert errors.MatchNotReady.code == "match_not_ready" and errors.InvalidTime.http_status == 422


@pytest.mark.asyncio(loop_scope="session")
async def test_mounted_routes_are_labelled_by_their_full_template(client) -> None:
    await ok(await client.get("/api/v1/tournaments", params={"limit": 1}))
    resp = await client.get("/api/v1/tournaments/2147483000/standings")
    assert resp.status_code == 404 and resp.json()["error"] == "not_found"
    text = (await client.get("/metrics")).text
    assert 'route="/api/v1/tournaments/{tournament_id:int}/standings",status="404"' in text
    assert 'route="/api/v1/tournaments",status="200"' in text
