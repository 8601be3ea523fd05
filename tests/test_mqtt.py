"""MQTT ingest against a real broker (Debian's mosquitto) and a real `fragstats serve`: the broker
authenticates game servers with the password and ACL files we render from their tokens; what they
publish to `openmohaa/events/<id>` is stored exactly as the same events posted over HTTP; a full
queue sheds messages and counts them.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import time
import uuid
from pathlib import Path

import aiomqtt
import httpx
import pytest

from conftest import free_port, stop_process
from helpers import cli

MOSQUITTO = "/usr/sbin/mosquitto"


def start_broker(folder: Path, port: int) -> subprocess.Popen:
    """mosquitto on 127.0.0.1:`port`, no anonymous clients, with `folder`'s passwd and acl files."""
    conf = folder / "mosquitto.conf"
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous false\npassword_file {folder / 'passwd'}\n"
                    f"acl_file {folder / 'acl'}\npersistence false\nlog_dest stderr\n"
                    + ("user root\n" if os.getuid() == 0 else ""))
    proc = subprocess.Popen([MOSQUITTO, "-c", str(conf)], stdout=subprocess.DEVNULL, stderr=open(folder / "broker.log", "wb"))
    return proc


def metric(url: str, name: str, labels: str = "") -> float:
    text = httpx.get(url + "/metrics").text
    m = re.search(rf"^{re.escape(name)}{re.escape(labels)} (\S+)$", text, re.M)
    return float(m.group(1)) if m else 0.0


def wait_for(check, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def events(match_id: str) -> list[dict]:
    """A small MOHAA match as the tracker publishes it: numbers as strings, one invalid event."""
    out = [{"type": "match_start", "match_id": match_id, "timestamp": "0", "map_name": "obj/obj_team2", "gametype": "obj"}]
    for i in range(1, 11):
        out.append({"type": "player_kill", "match_id": match_id, "timestamp": str(i * 1.5), "attacker_name": "Ryan",
                    "attacker_guid": "guid-ryan", "attacker_team": "allies", "victim_name": f"Hans{i % 3}", "victim_guid": f"guid-hans{i % 3}",
                    "victim_team": "axis", "weapon": "Thompson", "hitloc": "head" if i % 4 == 0 else "torso",
                    "attacker_x": str(100.5 * i), "attacker_y": "-20", "attacker_z": "8"})
    out.append({"type": "player_kill", "match_id": match_id, "timestamp": "x", "attacker_name": "bad"})  # rejected
    out.append({"type": "match_end", "match_id": match_id, "timestamp": "30", "winning_team": "allies"})
    return out


async def publish(port: int, user: str, password: str, topic: str, payloads: list[bytes]) -> None:
    async with aiomqtt.Client("127.0.0.1", port, username=user, password=password) as client:
        for payload in payloads:
            await client.publish(topic, payload, qos=1)


@pytest.fixture
def broker_port():
    return free_port()


def test_mqtt_messages_are_stored_exactly_like_http_ones(serve_factory, tmp_path, broker_port):
    serve = serve_factory({"FRAGSTATS_MQTT_URL": f"mqtt://fragstats:sub-secret@127.0.0.1:{broker_port}",
                           "FRAGSTATS_MQTT_RECONNECT_S": "0.3", "FRAGSTATS_STATS_CACHE_S": "0",
                           "FRAGSTATS_DURABILITY": "memory"}).start()
    a = json.loads(cli("server", "add", "MQTT A", "--url", serve.url))
    b = json.loads(cli("server", "add", "HTTP B", "--url", serve.url))
    files = json.loads(cli("mqtt", "broker-files", "--out", str(tmp_path / "broker"), "--url", serve.url))
    assert oct(os.stat(files["passwd"]).st_mode & 0o777) == "0o600"
    assert f"user server-{a['server_id']}\ntopic write openmohaa/events/{a['server_id']}" in Path(files["acl"]).read_text()
    broker = start_broker(tmp_path / "broker", broker_port)
    try:
        wait_for(lambda: metric(serve.url, "fragstats_mqtt_connected") == 1, what="the subscription")
        match_id = "mqtt-" + uuid.uuid4().hex[:12]
        body = events(match_id)
        asyncio.run(publish(broker_port, f"server-{a['server_id']}", a["token"], f"openmohaa/events/{a['server_id']}",
                            [json.dumps(body).encode()]))
        resp = httpx.post(serve.url + "/api/v1/ingest/events", json=body, headers={"X-Server-Token": b["token"]})
        assert resp.status_code == 202 and resp.json()["accepted"] == 12 and resp.json()["rejected"] == 1

        def timeline():
            got = httpx.get(f"{serve.url}/api/v1/stats/match/{match_id}/timeline").json()["events"]
            return got if len(got) == 24 else None

        rows = wait_for(timeline, what="both copies stored")
        by_server: dict[int, list] = {}
        for row in rows:
            by_server.setdefault(row.pop("server_id"), []).append(
                {k: v for k, v in row.items() if k not in ("received_at", "occurred_at")})
        assert by_server[a["server_id"]] == by_server[b["server_id"]] and len(by_server[a["server_id"]]) == 12
        expected = [("guid-ryan", 10, 0, 2), ("guid-hans0", 0, 3, 0), ("guid-hans1", 0, 4, 0), ("guid-hans2", 0, 3, 0)]

        def board(sid: int) -> list | None:
            players = httpx.get(f"{serve.url}/api/v1/stats/leaderboard?server_id={sid}").json()["players"]
            got = [(p["player_id"], p["kills"], p["deaths"], p["headshots"]) for p in players]
            return got if got == expected else None

        # An insert commits raw_events' part a moment before its views' parts (ClickHouse commits each
        # table on its own): the timeline can show the rows an instant before the leaderboard does.
        assert wait_for(lambda: board(a["server_id"]), what="server A's board") == expected
        assert wait_for(lambda: board(b["server_id"]), what="server B's board") == expected
        assert metric(serve.url, "fragstats_mqtt_messages_total", '{outcome="accepted"}') == 1

        # The broker keeps each server to its own topic, and strangers out.
        other = "mqtt-" + uuid.uuid4().hex[:12]
        asyncio.run(publish(broker_port, f"server-{a['server_id']}", a["token"], f"openmohaa/events/{b['server_id']}",
                            [json.dumps(events(other)).encode()]))
        with pytest.raises(aiomqtt.MqttError):
            asyncio.run(publish(broker_port, f"server-{a['server_id']}", "wrong-token", f"openmohaa/events/{a['server_id']}",
                                [b"[]"]))
        asyncio.run(publish(broker_port, f"server-{a['server_id']}", a["token"], f"openmohaa/events/{a['server_id']}",
                            [b"not json"]))
        wait_for(lambda: metric(serve.url, "fragstats_mqtt_messages_total", '{outcome="rejected"}') == 1,
                 what="the broken message")
        assert httpx.get(f"{serve.url}/api/v1/stats/match/{other}/timeline").json()["events"] == []
    finally:
        stop_process(broker, 10)


def test_a_full_queue_sheds_mqtt_messages_and_counts_them(serve_factory, tmp_path, broker_port):
    serve = serve_factory({"FRAGSTATS_MQTT_URL": f"mqtt://fragstats:sub-secret@127.0.0.1:{broker_port}",
                           "FRAGSTATS_MQTT_RECONNECT_S": "0.3", "FRAGSTATS_DURABILITY": "memory",
                           "FRAGSTATS_QUEUE_CAPACITY": "100", "FRAGSTATS_BATCH_SIZE": "100000",
                           "FRAGSTATS_FLUSH_INTERVAL_MS": "600000"}).start()
    a = json.loads(cli("server", "add", "MQTT flood", "--url", serve.url))
    cli("mqtt", "broker-files", "--out", str(tmp_path / "broker"), "--url", serve.url)
    broker = start_broker(tmp_path / "broker", broker_port)
    try:
        wait_for(lambda: metric(serve.url, "fragstats_mqtt_connected") == 1, what="the subscription")
        payload = json.dumps(events("flood")[:-1] + [events("flood")[-1]]).encode()  # 12 valid events
        asyncio.run(publish(broker_port, f"server-{a['server_id']}", a["token"], f"openmohaa/events/{a['server_id']}",
                            [payload] * 20))

        def outcomes():
            done = {o: metric(serve.url, "fragstats_mqtt_messages_total", f'{{outcome="{o}"}}')
                    for o in ("accepted", "shed")}
            return done if sum(done.values()) == 20 else None

        done = wait_for(outcomes, what="all 20 messages")
        assert done["accepted"] == 8 and done["shed"] == 12  # 8 x 12 = 96 events fit in 100
        assert metric(serve.url, "fragstats_ingest_events_shed_total") == 12 * 12
        assert metric(serve.url, "fragstats_queue_events") == 96
        assert metric(serve.url, "fragstats_ingest_events_accepted_total") == 96
    finally:
        stop_process(broker, 10)


def test_after_a_token_rotation_the_broker_takes_the_new_token_only(serve_factory, tmp_path, broker_port):
    serve = serve_factory({"FRAGSTATS_MQTT_URL": f"mqtt://fragstats:sub-secret@127.0.0.1:{broker_port}",
                           "FRAGSTATS_MQTT_RECONNECT_S": "0.3", "FRAGSTATS_DURABILITY": "memory"}).start()
    a = json.loads(cli("server", "add", "MQTT rotated", "--url", serve.url))
    rotated = json.loads(cli("server", "rotate-token", str(a["server_id"]), "--url", serve.url))
    assert rotated["server_id"] == a["server_id"] and rotated["token"] != a["token"]
    cli("mqtt", "broker-files", "--out", str(tmp_path / "broker"), "--url", serve.url)
    broker = start_broker(tmp_path / "broker", broker_port)
    try:
        wait_for(lambda: metric(serve.url, "fragstats_mqtt_connected") == 1, what="the subscription")
        user, topic = f"server-{a['server_id']}", f"openmohaa/events/{a['server_id']}"
        with pytest.raises(aiomqtt.MqttError):
            asyncio.run(publish(broker_port, user, a["token"], topic, [b"[]"]))
        match_id = "mqtt-" + uuid.uuid4().hex[:12]
        asyncio.run(publish(broker_port, user, rotated["token"], topic, [json.dumps(events(match_id)).encode()]))
        wait_for(lambda: metric(serve.url, "fragstats_mqtt_messages_total", '{outcome="accepted"}') == 1,
                 what="the message under the new token")
    finally:
        stop_process(broker, 10)
