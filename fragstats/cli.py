"""The `fragstats` command: `serve`, `server add|list|rotate-token|revoke`, `key add`, `dead-letter status|redrive`,
`achievements backfill`, `mqtt broker-files`, `import-log`.

Flags override `FRAGSTATS_*` environment variables (see `fragstats/settings.py`).
"""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path

import click
import httpx
import uvicorn
from pydantic import ValidationError

from fragstats.app import create_app, drain
from fragstats.auth import load_or_create_admin_token
from fragstats.errors import StartupError
from fragstats.http import CoalescingHttpToolsProtocol
from fragstats.settings import Settings
from ingest.shipper import IngestError, import_log

DEFAULT_URL = "http://127.0.0.1:8080"
log = logging.getLogger("fragstats")


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Debug logging.")
def main(verbose: bool) -> None:
    """fragstats: game telemetry in, stats and brackets out."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request drowns the progress bar


@main.command()
@click.option("--host", default=None, help="Listen address (default 127.0.0.1, env FRAGSTATS_HOST).")
@click.option("--port", type=int, default=None, help="Listen port (default 8080, env FRAGSTATS_PORT).")
@click.option("--data-dir", type=click.Path(path_type=Path), default=None,
              help="Folder for embedded engines, spool and admin token (env FRAGSTATS_DATA_DIR, default ./.fragstats).")
def serve(host: str | None, port: int | None, data_dir: Path | None) -> None:
    """Run the HTTP service (uvicorn, one process) with embedded engines unless URLs are set.

    SIGTERM/SIGINT: ingest answers 503 at once, the queue drains into ClickHouse (or the spool),
    then the process exits 0. A second signal exits without waiting.

    When it cannot start for a reason outside the program (a bad setting, a data dir that cannot be
    written, a full disk, an engine that fails or cannot be reached), it prints one line
    `cannot start: <what failed, where, why>` on stderr and exits 1, without a traceback.
    """

    overrides = {k: v for k, v in {"host": host, "port": port, "data_dir": data_dir}.items() if v is not None}
    try:
        settings = _settings(overrides)
        data = settings.resolved_data_dir()
        try:
            _, token_path = load_or_create_admin_token(settings.admin_token, data)
        except OSError as exc:
            raise StartupError(f"the admin token file {data / 'admin_token'} cannot be used"
                               f" ({exc.strerror or exc})") from None
    except StartupError as exc:
        _cannot_start(exc)
    if token_path:
        click.echo(f"admin token: {token_path} (set FRAGSTATS_ADMIN_TOKEN to choose your own)", err=True)
    app = create_app(settings)

    timeouts = app.state.metrics.http_timeouts
    protocol = CoalescingHttpToolsProtocol.configured(
        headers_timeout_s=settings.http_headers_timeout_s, body_timeout_s=settings.http_body_timeout_s,
        on_timeout=lambda phase: timeouts.labels(phase).inc())
    # X-Forwarded-For only from the proxies named in FRAGSTATS_FORWARDED_ALLOW_IPS (uvicorn's own
    # default would trust it from 127.0.0.1, letting any local client pick its address).
    # The app's lifespan runs here (`serve_app`), not in uvicorn: a start-up failure then reaches
    # us as an exception, instead of a traceback uvicorn logs for any lifespan error.
    config = uvicorn.Config(app, host=settings.host, port=settings.port, log_level="info",
                            http=protocol, loop="uvloop", access_log=False, lifespan="off",
                            timeout_graceful_shutdown=30, proxy_headers=bool(settings.forwarded_allow_ips),
                            forwarded_allow_ips=settings.forwarded_allow_ips or None)

    class DrainingServer(uvicorn.Server):
        """First SIGTERM/SIGINT: drain while still answering (503 on ingest), then exit."""

        draining_task: asyncio.Task | None = None

        def handle_exit(self, sig: int, frame) -> None:
            if self.draining_task is not None or not getattr(app.state, "pipeline", None):
                return super().handle_exit(sig, frame)
            loop = asyncio.get_event_loop()

            async def drain_then_exit() -> None:
                try:
                    await drain(app)
                finally:
                    self.should_exit = True

            def start() -> None:
                self.draining_task = loop.create_task(drain_then_exit())

            loop.call_soon_threadsafe(start)

    server = DrainingServer(config)

    async def serve_app() -> None:
        async with app.router.lifespan_context(app):  # engines, migrations, writers; then drain, close
            log.info("application started")
            await server.serve()

    # Start-up objects (modules, templates, engine clients) never die: keep them out of every
    # collection, and collect young objects less often — each pass otherwise walks the request
    # path's many short-lived containers (gc was ~8% of the event loop's time under load).
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)
    # The log's writer thread needs the GIL back after every write and fsync; with the loop busy
    # it waited Python's default 5 ms each time (Settings.switch_interval_ms; bench/RESULTS.md).
    sys.setswitchinterval(settings.switch_interval_ms / 1000)
    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(serve_app())
    except StartupError as exc:
        _cannot_start(exc)
    except KeyboardInterrupt:  # Ctrl-C while the engines were starting
        sys.exit(130)
    sys.exit(0 if server.started else 1)


def _settings(overrides: dict) -> Settings:
    """Settings from the environment and flags; a bad value is a `StartupError` naming its variable."""

    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "FRAGSTATS_" + "_".join(str(part) for part in first["loc"]).upper()
        raise StartupError(f"the setting {name} is invalid: {first['msg']}") from None


def _cannot_start(exc: Exception) -> None:
    """One line on stderr, exit 1; the traceback of the underlying error only with `fragstats -v`."""
    if exc.__cause__ is not None:
        log.debug("start-up failed", exc_info=exc.__cause__)
    click.echo(f"cannot start: {exc}", err=True)
    sys.exit(1)


def _admin_token(admin_token: str | None, data_dir: Path | None) -> str:
    if admin_token:
        return admin_token
    settings = Settings(**({"data_dir": data_dir} if data_dir else {}))
    if settings.admin_token:
        return settings.admin_token
    path = settings.data_dir.expanduser() / "admin_token"
    if path.exists():
        return path.read_text().strip()
    raise click.UsageError("no admin token: pass --admin-token, set FRAGSTATS_ADMIN_TOKEN, or use --data-dir of the server")


def _call(method: str, url: str, token: str, path: str, body: dict | None = None) -> dict | None:
    try:
        resp = httpx.request(method, url.rstrip("/") + path, json=body, timeout=30,
                             headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        raise click.ClickException(f"cannot reach {url}: {exc}") from None
    if resp.status_code >= 400:
        raise click.ClickException(f"HTTP {resp.status_code}: {resp.text}")
    return resp.json() if resp.content else None


_url_option = click.option("--url", default=lambda: os.environ.get("FRAGSTATS_URL", DEFAULT_URL), show_default=DEFAULT_URL,
                           help="Base URL of the fragstats service (env FRAGSTATS_URL).")
_admin_option = click.option("--admin-token", default=None, help="Admin token (default: env, or the data dir's file).")
_data_dir_option = click.option("--data-dir", type=click.Path(path_type=Path), default=None,
                                help="Data dir of a local server, to read its generated admin token.")


@main.group()
def server() -> None:
    """Manage game servers (admin)."""


@server.command("add")
@click.argument("name")
@_url_option
@_admin_option
@_data_dir_option
@click.option("--server-url", default=None, help="The game server's own address, for the record.")
def server_add(name: str, url: str, admin_token: str | None, data_dir: Path | None, server_url: str | None) -> None:
    """Register game server NAME; prints `{"server_id", "token", ...}` (the token is shown once)."""
    body = {"name": name, **({"url": server_url} if server_url else {})}
    click.echo(json.dumps(_call("POST", url, _admin_token(admin_token, data_dir), "/api/v1/servers", body)))


@server.command("list")
@_url_option
@_admin_option
@_data_dir_option
def server_list(url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """List game servers as JSON."""
    click.echo(json.dumps(_call("GET", url, _admin_token(admin_token, data_dir), "/api/v1/servers")))


@server.command("rotate-token")
@click.argument("server_id", type=int)
@_url_option
@_admin_option
@_data_dir_option
def server_rotate_token(server_id: int, url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Give SERVER_ID a new token; prints `{"server_id", "token", ...}` (shown once). The old token
    stops at once; for MQTT, run `fragstats mqtt broker-files` again and SIGHUP the broker."""
    click.echo(json.dumps(_call("POST", url, _admin_token(admin_token, data_dir), f"/api/v1/servers/{server_id}/token")))


@server.command("revoke")
@click.argument("server_id", type=int)
@_url_option
@_admin_option
@_data_dir_option
def server_revoke(server_id: int, url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Revoke SERVER_ID's token (its data stays)."""
    _call("DELETE", url, _admin_token(admin_token, data_dir), f"/api/v1/servers/{server_id}")
    click.echo(json.dumps({"server_id": server_id, "revoked": True}))


@main.group()
def key() -> None:
    """Manage API keys (admin)."""


@key.command("add")
@click.argument("name")
@click.option("--scope", "scopes", multiple=True, default=("tournaments",), show_default=True)
@_url_option
@_admin_option
@_data_dir_option
def key_add(name: str, scopes: tuple[str, ...], url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Create an API key NAME; prints `{"key_id", "key", "scopes"}` (the key is shown once)."""
    body = {"name": name, "scopes": list(scopes)}
    click.echo(json.dumps(_call("POST", url, _admin_token(admin_token, data_dir), "/api/v1/keys", body)))


@main.group("dead-letter")
def dead_letter() -> None:
    """Events ClickHouse refused for their content, kept under <data>/dead_letter (admin)."""


@dead_letter.command("status")
@_url_option
@_admin_option
@_data_dir_option
def dead_letter_status(url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Print how many events are dead-lettered, and the newest of them with ClickHouse's reason."""
    status = _call("GET", url, _admin_token(admin_token, data_dir), "/api/v1/ingest/status")
    click.echo(json.dumps({"dead_lettered": status["dead_lettered"], "recent": status["dead_letter_recent"]}))


@dead_letter.command("redrive")
@_url_option
@_admin_option
@_data_dir_option
def dead_letter_redrive(url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Insert the dead-lettered events again (after a fix); prints `{"redriven", "still_refused"}`."""
    click.echo(json.dumps(_call("POST", url, _admin_token(admin_token, data_dir), "/api/v1/ingest/dead-letter/redrive")))


@main.group()
def achievements() -> None:
    """Players' achievements (admin)."""


@achievements.command("backfill")
@_url_option
@_admin_option
@_data_dir_option
def achievements_backfill(url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Recompute every achievement's progress and unlocks from the events in ClickHouse; prints
    `{"events", "unlocks", "players", "seconds"}`."""
    click.echo(json.dumps(_call("POST", url, _admin_token(admin_token, data_dir), "/api/v1/achievements/backfill")))


@main.group()
def mqtt() -> None:
    """MQTT ingest's broker (admin)."""


@mqtt.command("broker-files")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Folder to write `passwd` and `acl` into (mode 0600); point mosquitto's password_file/acl_file at them.")
@_url_option
@_admin_option
@_data_dir_option
def mqtt_broker_files(out: Path, url: str, admin_token: str | None, data_dir: Path | None) -> None:
    """Write mosquitto's password and ACL files for every active game server (send the broker SIGHUP
    after); prints `{"passwd", "acl"}` paths."""
    files = _call("GET", url, _admin_token(admin_token, data_dir), "/api/v1/ingest/mqtt/broker-files")
    out.mkdir(parents=True, exist_ok=True)
    written = {}
    for name, key in (("passwd", "password_file"), ("acl", "acl_file")):
        path = out / name
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(files[key])
        written[name] = str(path)
    click.echo(json.dumps(written))


@main.command("import-log")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@_url_option
@click.option("--token", envvar="FRAGSTATS_SERVER_TOKEN", required=True, help="The game server's token (env FRAGSTATS_SERVER_TOKEN).")
@click.option("--follow", is_flag=True, help="Keep tailing the file like `tail -F`.")
@click.option("--start", default=None, help="Wall-clock time of the log's 0:00, ISO-8601 (default: from the file's mtime).")
@click.option("--batch-size", type=int, default=500, show_default=True, help="Events per HTTP request.")
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def import_log_cmd(path: str, url: str, token: str, follow: bool, start: str | None, batch_size: int,
                   no_progress: bool) -> None:
    """Ship an ioq3-style games.log (Quake III Arena and mods with its grammar) to the service."""
    start_dt = None
    if start:
        try:
            start_dt = datetime.fromisoformat(start.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter("expected ISO-8601, e.g. 2026-11-23T10:00:00Z", param_hint="--start") from None
        if start_dt.tzinfo is None:
            start_dt = start_dt.replace(tzinfo=timezone.utc)
    try:
        report = import_log(path, url, token, start=start_dt, follow=follow, batch_size=batch_size,
                            progress=not no_progress)
    except IngestError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(report.summary())


if __name__ == "__main__":
    main()
