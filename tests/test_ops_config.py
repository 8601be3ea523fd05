"""Operator configuration, checked offline against the real app.

1. `promtool` (Debian package `prometheus`): alert-rule unit tests, `check rules`, `check config`.
2. Grafana dashboards JSON: structure (panels with targets, provisioned datasource uid, unique ids,
   grid positions) and every metric name that a panel, a template variable or a rule refers to is
   in the exposition of a real `fragstats serve` (subprocess: chDB allows one data path per process,
   so the app must not share this test process with other tests' in-process apps), or is a
   recording rule, or a series Prometheus makes itself (`up`, `scrape_*`).
3. `docker-compose.yml` against the Compose specification (`check-jsonschema`), plus the parts the
   stack depends on (services, engine URLs, healthchecks, provisioning mounts) and the Dockerfile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml

from conftest import MOHAA_KILL as MOHAA_EVENT, free_port, stop_process

ROOT = Path(__file__).resolve().parent.parent
GRAFANA = ROOT / "grafana"
PROM_DIR = GRAFANA / "prometheus"
DASHBOARDS = sorted((GRAFANA / "dashboards").glob("*.json"))

# Series that Prometheus writes itself for every target (not in the app's /metrics).
PROMETHEUS_SYNTHETIC = {"up", "scrape_duration_seconds", "scrape_samples_scraped",
                        "scrape_samples_post_metric_relabeling", "scrape_series_added"}
# Labels that Prometheus attaches (target labels) or that histograms carry.
SYNTHETIC_LABELS = {"job", "instance", "le", "__name__", "service"}


# ----------------------------------------------------------------------------- PromQL helpers

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "and", "or", "unless",
             "offset", "bool", "inf", "nan", "atan2"}
_GROUPING = r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)"


def promql_refs(expr: str) -> tuple[set[str], set[str]]:
    """(metric names, label names) referenced by a PromQL expression.

    A small lexer, enough for the expressions of this repo: strings, label matchers `{...}`, range
    selectors `[...]` and grouping clauses are taken out first; the identifiers left that are not
    followed by `(` (functions) and are not keywords are metric names.
    """
    s = re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)
    labels: set[str] = set()
    for m in re.finditer(r"\{([^}]*)\}", s):
        labels |= set(re.findall(r"([a-zA-Z_]\w*)\s*(?:=~|!~|!=|=)", m.group(1)))
    s = re.sub(r"\{[^}]*\}", " ", s)
    s = re.sub(r"\[[^\]]*\]", " ", s)
    for m in re.finditer(_GROUPING, s):
        labels |= set(re.findall(r"[a-zA-Z_]\w*", m.group(1)))
    s = re.sub(_GROUPING, " ", s)
    names = set()
    for m in re.finditer(r"(?<![\w.:$])([a-zA-Z_:][\w:]*)(\s*\()?", s):
        if m.group(2) or m.group(1).lower() in _KEYWORDS:
            continue
        names.add(m.group(1))
    return names, labels


def test_promql_refs_finds_metrics_and_labels():
    names, labels = promql_refs(
        'histogram_quantile(0.99, sum by (route, le) (rate(fragstats_http_request_seconds_bucket'
        '{job=~"$job", status=~"5.."}[$__rate_interval]))) / on (job) group_left '
        'max(up offset 5m) > bool 1e-9 or vector(0) and job:fragstats_x:rate1m')
    assert names == {"fragstats_http_request_seconds_bucket", "up", "job:fragstats_x:rate1m"}
    assert labels == {"route", "le", "job", "status"}


def variable_refs(query: str) -> tuple[set[str], set[str]]:
    """Metric and label names of a Grafana Prometheus variable query (`label_values(m, l)`,
    `label_values(l)`, `query_result(expr)`, `metrics(re)`)."""
    m = re.fullmatch(r"\s*label_values\((?:(.+),)?\s*(\w+)\s*\)\s*", query)
    if m:
        names, labels = promql_refs(m.group(1) or "")
        return names, labels | {m.group(2)}
    m = re.fullmatch(r"\s*query_result\((.+)\)\s*", query)
    if m:
        return promql_refs(m.group(1))
    return set(), set()


# ----------------------------------------------------------------------------- the real app


@pytest.fixture(scope="module")
def exposition(tmp_path_factory) -> str:
    """`/metrics` of a real `fragstats serve` after one accepted, one rejected and one shed request
    (so that labelled families like `..._rejected_total{reason}` and `..._requests_shed_total{status}`
    show their labels)."""
    data = tmp_path_factory.mktemp("app")
    port = free_port()
    env = dict(os.environ, FRAGSTATS_QUEUE_CAPACITY="1", FRAGSTATS_FLUSH_INTERVAL_MS="50")
    log = open(data / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "fragstats.cli", "serve", "--data-dir", str(data / "d"),
                             "--port", str(port)], stdout=log, stderr=subprocess.STDOUT, env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, (data / "serve.log").read_text()
            try:
                if httpx.get(base + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "fragstats serve did not start in 90 s"
            time.sleep(0.3)
        admin = (data / "d" / "admin_token").read_text().strip()
        with httpx.Client(base_url=base, timeout=30) as c:
            r = c.post("/api/v1/servers", json={"name": "ops-config"}, headers={"Authorization": f"Bearer {admin}"})
            assert r.status_code == 201, r.text
            hdr = {"X-Server-Token": r.json()["token"], "Content-Type": "application/json"}
            event = json.loads(MOHAA_EVENT.read_text())[0]
            # The bad request first: once the one-event queue is full, requests are shed unread.
            assert c.post("/api/v1/ingest/events", headers=hdr, json=[{"foo": 1}]).status_code == 400
            assert c.post("/api/v1/ingest/events", headers=hdr, json=[event]).status_code == 202
            assert c.post("/api/v1/ingest/events", headers=hdr, json=[event, event]).status_code == 429
            time.sleep(0.5)  # let the batch writer insert, so the insert histograms have samples
            text = c.get("/metrics").text
    finally:
        stop_process(proc)
        log.close()
    return text


@pytest.fixture(scope="module")
def known(exposition) -> tuple[set[str], set[str]]:
    """(metric names, label names) of the real exposition: sample names (with `_bucket`, `_sum`,
    `_count`) plus every `# TYPE` family name (a labelled counter without children only has that)."""
    names, labels = set(), set()
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            names.add(name)
            if kind == "histogram":
                names |= {name + "_bucket", name + "_sum", name + "_count"}
        elif line and not line.startswith("#"):
            m = re.match(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})?\s", line)
            assert m, line
            names.add(m.group(1))
            labels |= set(re.findall(r'(\w+)="', m.group(2) or ""))
    return names, labels


def test_exposition_has_the_contract(known):
    names, labels = known
    for name in ("fragstats_ingest_events_received_total", "fragstats_ingest_events_accepted_total",
                 "fragstats_ingest_events_rejected_total", "fragstats_ingest_events_shed_total",
                 "fragstats_ingest_requests_shed_total", "fragstats_queue_events", "fragstats_queue_capacity_events",
                 "fragstats_batch_size_events_bucket", "fragstats_insert_seconds_bucket",
                 "fragstats_insert_failures_total", "fragstats_events_committed_total", "fragstats_spooled_events_total",
                 "fragstats_spool_events", "fragstats_http_request_seconds_bucket", "fragstats_live_servers",
                 "fragstats_draining", "process_cpu_seconds_total", "process_resident_memory_bytes",
                 "fragstats_dead_letter_events", "fragstats_dead_lettered_events_total", "fragstats_disk_full",
                 "fragstats_wal_bytes", "fragstats_wal_fsync_seconds_bucket", "fragstats_queue_bytes",
                 "fragstats_event_loop_lag_seconds_bucket",
                 "fragstats_uploads_total", "fragstats_upload_seconds_bucket", "fragstats_upload_payload_bytes_bucket",
                 "fragstats_upload_job_seconds_bucket", "fragstats_upload_jobs", "fragstats_upload_job_failures_total",
                 "fragstats_uploads_expired_total", "fragstats_uploads_aborted_total",
                 "fragstats_upload_parts_deleted_total"):
        assert name in names, name
    assert {"reason", "status", "route", "method", "kind", "client_version", "state"} <= labels


# ----------------------------------------------------------------------------- rules


def rules() -> list[dict]:
    doc = yaml.safe_load((PROM_DIR / "rules.yml").read_text())
    return [rule for group in doc["groups"] for rule in group["rules"]]


def recording_names() -> set[str]:
    return {r["record"] for r in rules() if "record" in r}


def test_promtool_rule_unit_tests():
    out = subprocess.run(["promtool", "test", "rules", "rules_test.yml"], cwd=PROM_DIR,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "SUCCESS" in out.stdout


def test_promtool_check_rules_and_config():
    for args in (["check", "rules", "rules.yml"], ["check", "config", "prometheus.yml"]):
        out = subprocess.run(["promtool", *args], cwd=PROM_DIR, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stdout + out.stderr


def test_every_alert_has_a_unit_test():
    alerts = {r["alert"] for r in rules() if "alert" in r}
    assert {"FragstatsLoadShedding", "FragstatsQueueNearlyFull", "FragstatsInsertFailures",
            "FragstatsSpoolNotEmpty", "FragstatsIngestStalled", "FragstatsDeadLetters", "FragstatsDiskFull"} <= alerts
    tests = yaml.safe_load((PROM_DIR / "rules_test.yml").read_text())["tests"]
    fires, silent = set(), set()
    for t in tests:
        for case in t.get("alert_rule_test", []):
            (fires if case.get("exp_alerts") else silent).add(case["alertname"])
    assert alerts <= fires, f"alerts never tested firing: {alerts - fires}"
    assert alerts <= silent, f"alerts never tested silent: {alerts - silent}"
    for r in rules():
        if "alert" in r:
            assert r["labels"]["severity"] in {"warning", "critical"}, r["alert"]
            assert r["annotations"].get("summary") and r["annotations"].get("description"), r["alert"]


def test_scrape_config_targets_the_app():
    cfg = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text())
    assert cfg["rule_files"] == ["rules.yml"]
    job = next(j for j in cfg["scrape_configs"] if j["job_name"] == "fragstats")
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert ["app:8080"] == [t for sc in job["static_configs"] for t in sc["targets"]]


def test_rule_expressions_use_existing_metrics(known):
    names, labels = known
    allowed = names | recording_names() | PROMETHEUS_SYNTHETIC
    for r in rules():
        used, used_labels = promql_refs(r["expr"])
        assert used, r
        assert used <= allowed, f"{r.get('alert') or r.get('record')}: unknown metrics {used - allowed}"
        assert used_labels <= labels | SYNTHETIC_LABELS, f"{r}: unknown labels {used_labels - labels}"


# ----------------------------------------------------------------------------- dashboards


def provisioned_datasource_uid() -> str:
    doc = yaml.safe_load((GRAFANA / "provisioning" / "datasources" / "prometheus.yml").read_text())
    (ds,) = doc["datasources"]
    assert ds["type"] == "prometheus" and ds["url"] == "http://prometheus:9090"
    return ds["uid"]


def test_dashboard_provisioning_points_at_the_mounted_folder():
    doc = yaml.safe_load((GRAFANA / "provisioning" / "dashboards" / "dashboards.yml").read_text())
    (provider,) = doc["providers"]
    assert provider["type"] == "file"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def panels_of(board: dict) -> list[dict]:
    out = []
    for p in board["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # collapsed rows keep their panels inside
    return out


def test_there_are_dashboards():
    assert {p.name for p in DASHBOARDS} >= {"fragstats-ingest.json", "fragstats-http.json", "fragstats-process.json",
                                           "fragstats-uploads.json"}


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_structure(path):
    uid = provisioned_datasource_uid()
    board = json.loads(path.read_text())
    assert board["uid"] and board["title"] and isinstance(board["schemaVersion"], int)
    panels = panels_of(board)
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids in {path.name}"
    seen_cells = set()
    graphs = 0
    for p in panels:
        pos = p["gridPos"]
        assert {"h", "w", "x", "y"} <= pos.keys(), p["title"]
        assert pos["w"] > 0 and pos["h"] > 0 and 0 <= pos["x"] and pos["x"] + pos["w"] <= 24, p["title"]
        cells = {(pos["x"] + dx, pos["y"] + dy) for dx in range(pos["w"]) for dy in range(pos["h"])}
        assert not cells & seen_cells, f"{p['title']} overlaps another panel"
        seen_cells |= cells
        assert p["title"]
        if p["type"] == "row":
            continue
        graphs += 1
        assert p["datasource"] == {"type": "prometheus", "uid": uid}, p["title"]
        assert p["targets"], p["title"]
        refs = [t["refId"] for t in p["targets"]]
        assert len(refs) == len(set(refs)), p["title"]
        for t in p["targets"]:
            assert t["datasource"]["uid"] == uid, p["title"]
            assert t["expr"].strip(), p["title"]
    assert graphs >= 4
    for var in board.get("templating", {}).get("list", []):
        if var["type"] == "query":
            assert var["datasource"]["uid"] == uid, var["name"]


@pytest.mark.parametrize("path", DASHBOARDS, ids=lambda p: p.name)
def test_dashboard_metrics_exist(path, known):
    names, labels = known
    allowed = names | recording_names() | PROMETHEUS_SYNTHETIC
    board = json.loads(path.read_text())
    for p in panels_of(board):
        for t in p.get("targets", []):
            used, used_labels = promql_refs(t["expr"])
            assert used, f"{p['title']}: no metric in {t['expr']}"
            assert used <= allowed, f"{p['title']}: unknown metrics {used - allowed}"
            assert used_labels <= labels | SYNTHETIC_LABELS, f"{p['title']}: unknown labels {used_labels - labels}"
            for legend_label in re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")):
                assert legend_label in labels | SYNTHETIC_LABELS, f"{p['title']}: legend {legend_label}"
    for var in board.get("templating", {}).get("list", []):
        if var["type"] == "query":
            q = var["query"]["query"] if isinstance(var["query"], dict) else var["query"]
            used, used_labels = variable_refs(q)
            assert used <= allowed and used_labels <= labels | SYNTHETIC_LABELS, var


def test_dashboards_cover_the_operator_questions():
    exprs = " ".join(t["expr"] for path in DASHBOARDS for p in panels_of(json.loads(path.read_text()))
                     for t in p.get("targets", []))
    for needle in ("rate(fragstats_ingest_events_accepted_total", "rate(fragstats_ingest_events_rejected_total",
                   "rate(fragstats_ingest_events_shed_total", "fragstats_queue_events", "fragstats_queue_capacity_events",
                   "fragstats_batch_size_events_bucket", "histogram_quantile(0.5, sum by (le) (rate(fragstats_insert_seconds_bucket",
                   "histogram_quantile(0.99, sum by (le) (rate(fragstats_insert_seconds_bucket",
                   "rate(fragstats_insert_failures_total", "fragstats_spool_events", "rate(fragstats_spooled_events_total",
                   "histogram_quantile(0.99, sum by (route, le) (rate(fragstats_http_request_seconds_bucket",
                   'status=~"[45].."', "rate(process_cpu_seconds_total", "process_resident_memory_bytes",
                   "fragstats_dead_letter_events", "fragstats_disk_full", "fragstats_wal_fsync_seconds_bucket",
                   "rate(fragstats_event_loop_lag_seconds_bucket", "rate(fragstats_dead_lettered_events_total", "rate(fragstats_uploads_total",
                   "rate(fragstats_upload_seconds_bucket", "rate(fragstats_upload_payload_bytes_bucket",
                   "rate(fragstats_upload_job_seconds_bucket", "fragstats_upload_jobs",
                   "rate(fragstats_uploads_expired_total", "rate(fragstats_uploads_aborted_total"):
        assert needle in exprs, needle
    # Counters are only ever read through rate()/increase(), never plotted raw.
    for path in DASHBOARDS:
        for p in panels_of(json.loads(path.read_text())):
            for t in p.get("targets", []):
                for name in promql_refs(t["expr"])[0]:
                    if name.endswith(("_total", "_bucket", "_count", "_sum")):
                        assert re.search(r"(rate|increase)\(\s*" + re.escape(name), t["expr"]), (p["title"], name)


# ----------------------------------------------------------------------------- compose + Dockerfile


def test_compose_file_matches_the_compose_spec():
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name("check-jsonschema"))
    out = subprocess.run([exe, "--builtin-schema", "vendor.compose-spec", "docker-compose.yml"], cwd=ROOT,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr


def test_compose_stack_wiring():
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert set(services) >= {"clickhouse", "postgres", "redis", "prometheus", "grafana", "app"}
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server:")
    for name, svc in services.items():
        assert "healthcheck" in svc, f"{name} has no healthcheck"
    app = services["app"]
    assert app["build"]["dockerfile"] == "Dockerfile"
    env = app["environment"]
    assert env["FRAGSTATS_CLICKHOUSE_URL"].startswith("http://") and "@clickhouse:8123/" in env["FRAGSTATS_CLICKHOUSE_URL"]
    assert env["FRAGSTATS_POSTGRES_URL"].startswith("postgresql://") and "@postgres:5432/" in env["FRAGSTATS_POSTGRES_URL"]
    assert env["FRAGSTATS_REDIS_URL"].startswith("redis://redis:6379")
    assert env["FRAGSTATS_ADMIN_TOKEN"]
    for dep in ("clickhouse", "postgres", "redis"):
        assert app["depends_on"][dep]["condition"] == "service_healthy"
    mounts = " ".join(str(v) for v in services["grafana"]["volumes"])
    assert "./grafana/provisioning:/etc/grafana/provisioning" in mounts
    assert "./grafana/dashboards:/var/lib/grafana/dashboards" in mounts
    prom = " ".join(str(v) for v in services["prometheus"]["volumes"])
    assert "./grafana/prometheus:/etc/prometheus" in prom
    named = set(doc.get("volumes", {}))
    for svc in services.values():
        for v in svc.get("volumes", []):
            src = str(v).split(":")[0]
            if not src.startswith((".", "/")):
                assert src in named, f"volume {src} not declared"


def test_dockerfile_is_multi_stage_and_non_root():
    text = (ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM\s", text, re.M)) >= 2
    users = re.findall(r"^USER\s+(\S+)", text, re.M)
    assert users and users[-1] not in {"root", "0", "0:0"}
    cmd = " ".join(re.findall(r"^(?:CMD|ENTRYPOINT)\s+(.*)$", text, re.M))
    assert "serve" in cmd and "0.0.0.0" in cmd
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert ".git" in ignore and ".fragstats" in ignore
