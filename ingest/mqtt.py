"""MQTT ingest: the tracker scripts' other transport, beside `POST /api/v1/ingest/events`.

With `FRAGSTATS_MQTT_URL` (`mqtt://user:pass@host:1883`) set, each app process subscribes (aiomqtt)
to `openmohaa/events/+` as a shared subscription (`$share/fragstats/...`, so several processes split
the messages) at QoS 1, and takes each message's payload — a JSON array of events, as the tracker
publishes it (`examples/mohaa/README.md`) — through the very steps of the HTTP route: the same
decoder (`ingest.decode.decode_events`: validation, per-event rejection, size and depth limits), the
same admission (`Pipeline.admit`: all or none, the queue's bounds, the write-ahead log) and the same
counters (`fragstats_ingest_events_*`). The topic's last level is the server id.

Who may publish: the broker decides, against our server tokens. `GET /api/v1/ingest/mqtt/broker-files`
(admin; `fragstats mqtt broker-files`) renders a mosquitto password file — user `server-<id>`, its
token as password (PBKDF2-SHA512, stored when the server was made, `fragstats.servers`) — and an ACL
file by which `server-<id>` may write only `openmohaa/events/<id>` and our own user may read them.
Regenerate both (and send the broker SIGHUP) after adding, rotating (`POST /api/v1/servers/{id}/token`)
or revoking a server: until then the broker takes the old token; a message for a server that is
unknown or revoked here is dropped all the same.

What MQTT cannot say: there is no 429. A message the queue cannot take (the outcomes `shed`,
`draining`, `disk_full`, `storage_error` of `ingest.pipeline.Admission`) is dropped and counted in
`fragstats_mqtt_messages_total{outcome}` and, for `shed`, in `fragstats_ingest_events_shed_total`.
The broker acknowledged the publisher already (QoS 1 is between the publisher and the broker):
game servers that need "stored or told" use HTTP.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections import Counter as Tally
from urllib.parse import unquote, urlsplit

import aiomqtt
from prometheus_client import Counter, Gauge

from fragstats.params import decimal_digits
from ingest.decode import BodyError, decode_events
from ingest.pipeline import Admission

log = logging.getLogger("fragstats.ingest.mqtt")
TOPIC_PREFIX = "openmohaa/events/"
SUBSCRIPTION = "$share/fragstats/openmohaa/events/+"
OUTCOMES = ("accepted", "rejected", "bad_topic", "unknown_server", *(a.value for a in Admission if a is not Admission.ACCEPTED))


def parse_url(url: str) -> dict:
    """`mqtt://user:pass@host:port` -> aiomqtt.Client keyword arguments. Raises ValueError for
    another scheme or no host."""
    parts = urlsplit(url)
    if parts.scheme != "mqtt" or not parts.hostname:
        raise ValueError(f"FRAGSTATS_MQTT_URL must look like mqtt://user:pass@host:1883, not {parts.scheme}://...")
    return {"hostname": parts.hostname, "port": parts.port or 1883,
            "username": unquote(parts.username) if parts.username else None,
            "password": unquote(parts.password) if parts.password else None}


def server_of(topic: str) -> int | None:
    """The server id of `openmohaa/events/<id>`, or None."""
    if not topic.startswith(TOPIC_PREFIX):
        return None
    tail = topic[len(TOPIC_PREFIX):]
    return int(tail) if decimal_digits(tail) and 0 < len(tail) <= 10 and 0 < int(tail) < 2**31 else None


class MqttIngest:
    """One subscriber per app process: `start()` runs it as a task (reconnecting after
    `FRAGSTATS_MQTT_RECONNECT_S`), `stop()` ends it."""

    def __init__(self, settings, pipeline, metrics, pool):
        self.settings = settings
        self.pipeline = pipeline
        self.metrics = metrics
        self.pool = pool
        self.client_args = parse_url(settings.mqtt_url)
        self.messages = Counter("fragstats_mqtt_messages_total", "MQTT messages taken, by outcome: accepted, rejected"
                                " (no valid event), bad_topic, unknown_server, shed, draining, disk_full, storage_error.",
                                ["outcome"], registry=metrics.registry)
        for outcome in OUTCOMES:
            self.messages.labels(outcome)
        self.up = Gauge("fragstats_mqtt_connected", "1 while subscribed to the MQTT broker.", registry=metrics.registry)
        self.connected = asyncio.Event()
        self._servers: tuple[float, frozenset[int]] = (0.0, frozenset())
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mqtt-ingest")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _active_servers(self) -> frozenset[int]:
        at, ids = self._servers
        if time.monotonic() - at > self.settings.token_cache_ttl_s:
            rows = await self.pool.fetch("SELECT id FROM servers WHERE revoked_at IS NULL")
            ids = frozenset(r["id"] for r in rows)
            self._servers = (time.monotonic(), ids)
        return ids

    async def _run(self) -> None:
        identifier = f"fragstats-{socket.gethostname()}-{self.settings.port}"
        while True:
            try:
                async with aiomqtt.Client(**self.client_args, identifier=identifier, clean_session=False,
                                          max_queued_incoming_messages=1000) as client:
                    await client.subscribe(SUBSCRIPTION, qos=1)
                    self.connected.set()
                    self.up.set(1)
                    log.info("MQTT: subscribed to %s at %s:%s", SUBSCRIPTION, self.client_args["hostname"],
                             self.client_args["port"])
                    async for message in client.messages:
                        await self.take(str(message.topic), message.payload)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.up.set(0)
                log.warning("MQTT: %s; reconnecting in %.1f s", exc, self.settings.mqtt_reconnect_s)
                await asyncio.sleep(self.settings.mqtt_reconnect_s)

    async def take(self, topic: str, payload: bytes | str) -> str:
        """One message through decoding and admission; its outcome (also counted)."""
        outcome = await self._take(topic, payload if isinstance(payload, bytes) else str(payload).encode())
        self.messages.labels(outcome).inc()
        return outcome

    async def _take(self, topic: str, payload: bytes) -> str:
        server_id = server_of(topic)
        if server_id is None:
            return "bad_topic"
        if server_id not in await self._active_servers():
            return "unknown_server"
        pipeline, metrics, settings = self.pipeline, self.metrics, self.settings
        if pipeline.queue.closed:
            return Admission.DRAINING.value
        if pipeline.nearly_full():  # as HTTP: no decoding of what cannot be queued
            return Admission.SHED.value
        if len(payload) > settings.max_body_bytes:
            metrics.events_rejected.labels("body_too_large").inc()
            return "rejected"
        try:
            n_items, verdicts = decode_events(payload, "application/json", server_id,
                                              max_event_bytes=settings.max_event_bytes,
                                              max_depth=settings.max_json_depth)
        except BodyError as exc:
            metrics.events_rejected.labels(exc.code).inc()
            return "rejected"
        metrics.events_received.inc(n_items)
        for reason, n in Tally(r.reason_code for r in verdicts.rejected).items():
            metrics.events_rejected.labels(reason).inc(n)
        if not verdicts.accepted:
            return "rejected"
        admission = await pipeline.admit(verdicts.accepted)
        if admission is Admission.ACCEPTED:
            metrics.events_accepted.inc(len(verdicts.accepted))
        elif admission is Admission.SHED:
            metrics.events_shed.inc(len(verdicts.accepted))
        return admission.value


async def broker_files(pool, subscriber: str | None, subscriber_hash: str | None) -> dict:
    """`{"password_file", "acl_file"}` for mosquitto: one user `server-<id>` per active server that has
    an MQTT password hash (servers made before it existed need a new token), writing only its own
    topic; `subscriber` (our user in FRAGSTATS_MQTT_URL, with `subscriber_hash`) reading all of them."""
    rows = await pool.fetch("SELECT id, mqtt_password_hash FROM servers WHERE revoked_at IS NULL"
                            " AND mqtt_password_hash IS NOT NULL ORDER BY id")
    passwd = [f"server-{r['id']}:{r['mqtt_password_hash']}" for r in rows]
    acl = [f"user server-{r['id']}\ntopic write {TOPIC_PREFIX}{r['id']}\n" for r in rows]
    if subscriber and subscriber_hash:
        passwd.insert(0, f"{subscriber}:{subscriber_hash}")
        acl.insert(0, f"user {subscriber}\ntopic read {TOPIC_PREFIX}+\n")
    return {"password_file": "\n".join(passwd) + "\n", "acl_file": "\n".join(acl)}
