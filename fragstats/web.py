"""The kernel's share of the HTML pages: one Jinja2 environment, the layout, generic filters, helpers.

Each package owns its pages and templates; what they have in common lives here so that no package
needs another one's module to render a page:

- the template search path: the kernel's own `fragstats/templates/` (`base.html`, `error.html`)
  first, then every directory a package registers at import time with `add_templates(...)`;
- the generic filters `num`, `when`, `clock`, `seg`, `name`, `pct`, `ratio`;
- `render()`, the `page` decorator (errors -> HTML error page), `wants_fragment()` and `url()`.

Package-specific template globals are registered by the package itself on `env.globals`.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
import urllib.parse
from collections.abc import Awaitable, Callable
from pathlib import Path

import jinja2
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from fragstats.errors import ApiError

HERE = Path(__file__).resolve().parent
Handler = Callable[[Request], Awaitable[Response]]

# The kernel's templates come first, so a package cannot shadow the shared layout by accident.
_loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(str(HERE / "templates"))])
env = jinja2.Environment(loader=_loader, autoescape=jinja2.select_autoescape())
templates = Jinja2Templates(env=env)


def add_templates(directory: Path | str) -> None:
    """Add a package's template directory to the shared search path (call once, at import time).

    Names are looked up in the kernel's directory first, then in the packages' directories in the
    order they were added; adding the same directory twice is a no-op."""
    directory = str(Path(directory).resolve())
    for loader in _loader.loaders:
        if isinstance(loader, jinja2.FileSystemLoader) and directory in loader.searchpath:
            return
    _loader.loaders.append(jinja2.FileSystemLoader(directory))


# --- generic filters -----------------------------------------------------------------------------

_COLOUR_CODES = re.compile(r"\^[^^]")


def plain_name(name) -> str:
    """A player name without Quake colour codes (`^1Red` -> `Red`)."""
    return _COLOUR_CODES.sub("", str(name or ""))


def fmt_num(value) -> str:
    """Thousands separated; floats to one decimal."""
    if value is None:
        return "–"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.1f}"
    return f"{int(value):,}"


def fmt_when(value) -> str:
    """An ISO-8601 UTC string or epoch seconds as `2026-11-01 12:03 UTC`."""
    if value in (None, ""):
        return "–"
    if isinstance(value, (int, float)):
        when = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    else:
        when = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    if len(str(value)) == 10 and not isinstance(value, (int, float)):  # a date
        return str(value)
    return when.strftime("%Y-%m-%d %H:%M UTC")


def fmt_clock(seconds) -> str:
    """Game clock seconds as `m:ss`."""
    if seconds is None:
        return ""
    s = int(float(seconds))
    return f"{s // 60}:{s % 60:02d}"


def path_segment(value) -> str:
    """Percent-encode one URL path segment (player ids hold `@`, spaces, ...)."""
    return urllib.parse.quote(str(value), safe="")


def fmt_pct(value) -> str:
    """A fraction as a percentage with one decimal (`0.256` -> `25.6%`)."""
    return "–" if value is None else f"{float(value) * 100:.1f}%"


def fmt_ratio(value) -> str:
    """A ratio with two decimals."""
    return "–" if value is None else f"{float(value):.2f}"


env.filters.update(num=fmt_num, when=fmt_when, clock=fmt_clock, seg=path_segment, name=plain_name,
                   pct=fmt_pct, ratio=fmt_ratio)


# --- rendering -----------------------------------------------------------------------------------

def wants_fragment(request: Request) -> bool:
    """True for an htmx request that will swap a fragment (not a history restore, which needs the page)."""
    return request.headers.get("hx-request") == "true" and not request.headers.get("hx-history-restore-request")


def render(request: Request, name: str, context: dict, status: int = 200) -> Response:
    """Render a template; `Vary: HX-Request` because one URL answers a page or a fragment."""
    return templates.TemplateResponse(request, name, context, status_code=status, headers={"Vary": "HX-Request"})


def page(handler: Handler) -> Handler:
    """Wrap a page handler: an `ApiError`, or any exception carrying an `http_status` attribute (the
    packages' own error types), becomes the HTML error page with that status; anything else raises."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return render(request, "error.html", {"status": exc.status_code, "detail": exc.detail},
                          status=exc.status_code)
        except Exception as exc:
            status = getattr(exc, "http_status", None)
            if status is None:
                raise
            return render(request, "error.html", {"status": status, "detail": str(exc)}, status=status)

    return wrapped


def url(path: str, params: dict) -> str:
    """`path` with the query string of `params`, leaving out those that are None or empty."""
    kept = {k: v for k, v in params.items() if v not in (None, "")}
    return path + ("?" + urllib.parse.urlencode(kept) if kept else "")
