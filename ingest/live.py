"""Live match and server state in Redis, written once per committed batch (one pipeline, never per event).

Keys (every one with a TTL, so a crashed server's match disappears on its own):
- `fragstats:live:match:{server_id}:{match_id}` hash: server_id, match_id, map_name, gametype,
  started_at, last_event_at (epoch s), allies_score, axis_score, ended ("0"/"1");
- `...:kills`, `...:deaths`, `...:names` hashes keyed by player_id (this match only);
- `fragstats:live:matches` sorted set of "server_id:match_id" by last event time;
- `fragstats:live:server:{server_id}` hash: match_id, map_name, gametype, last_event_at, players;
- `fragstats:live:server:{server_id}:players` sorted set of player_id by last seen;
- `fragstats:live:servers` sorted set of server ids by last event time;
- `fragstats:live:feed` a Redis stream: one entry per (batch, match) with the kills and scores of
  that batch — the source of the SSE feed (stream ids are the SSE event ids).
"""

from __future__ import annotations

import time
from collections import defaultdict

import msgspec
import redis.asyncio as redis_asyncio

from fragstats.cooperative import slices
from ingest.events import NOTABLE
from ingest.identity import display_name, kill_kind, player_id

FEED = "fragstats:live:feed"
FEED_MAXLEN = 10_000
MATCHES = "fragstats:live:matches"
SERVERS = "fragstats:live:servers"
_PLAYER_PREFIXES = ("attacker", "victim", "player", "target")
_FEED_KILLS_MAX = 50
# ARGV: key, ttl (s), n, then n (field, delta) pairs; repeated per hash. The keys are not passed as
# KEYS, so this is for a single Redis (not a cluster), which is what fragstats runs against.
_INCREMENT_LUA = """
local i = 1
while i <= #ARGV do
  local key, ttl, n = ARGV[i], tonumber(ARGV[i + 1]), tonumber(ARGV[i + 2])
  i = i + 3
  for _ = 1, n do
    redis.call('HINCRBY', key, ARGV[i], ARGV[i + 1])
    i = i + 2
  end
  redis.call('EXPIRE', key, ttl)
end
return 0
"""
# Event types that carry live state (players seen, kills, scores, match start/end).
_INTERESTING = NOTABLE


def match_key(server_id: int, match_id: str) -> str:
    return f"fragstats:live:match:{server_id}:{match_id}"


def server_key(server_id: int) -> str:
    return f"fragstats:live:server:{server_id}"


class LiveState:
    """Writes live state for each committed batch; `ttl_s` bounds how long a silent match survives."""

    def __init__(self, redis: redis_asyncio.Redis, ttl_s: int, on_servers_live=None):
        self.redis = redis
        self.ttl_s = ttl_s
        self.on_servers_live = on_servers_live  # callback(count) for the live-servers gauge
        self._increment = redis.register_script(_INCREMENT_LUA)

    async def update(self, notable: list, touched: dict) -> None:
        """Fold one committed batch into Redis with one pipelined round trip.

        `touched`: {(server_id, match_id): last receipt time} of every event of the batch (each keeps
        its match alive); `notable`: the batch's events that carry live state (kills, scores, match
        start/end, players joining), in order.
        """
        matches: dict[tuple[int, str], dict] = {}
        kills: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        deaths: dict[tuple[int, str], dict[str, int]] = defaultdict(lambda: defaultdict(int))
        names: dict[tuple[int, str], dict[str, str]] = defaultdict(dict)
        feed_kills: dict[tuple[int, str], list] = defaultdict(list)
        servers: dict[int, dict] = {}
        seen_players: dict[int, dict[str, float]] = defaultdict(dict)
        for (server_id, match_id), at in touched.items():
            matches[(server_id, match_id)] = {"server_id": server_id, "match_id": match_id, "last_event_at": at}
        async for part in slices(notable):  # a busy batch holds thousands of kills: requests go in between
            for ev in part:
                key = (ev.server_id, ev.match_id)
                state = matches.get(key)
                etype = _INTERESTING.get(type(ev))
                if state is None or etype is None:
                    continue
                if ev.map_name:
                    state["map_name"] = ev.map_name
                if ev.gametype:
                    state["gametype"] = ev.gametype
                if etype == "match_start":
                    state["started_at"] = ev.received_at
                    state["ended"] = "0"
                elif etype == "match_end":
                    state["ended"] = "1"
                if etype in ("heartbeat", "match_end"):
                    for field in ("allies_score", "axis_score"):
                        value = getattr(ev, field)
                        if value is not None:
                            state[field] = value
                for prefix in _PLAYER_PREFIXES:
                    name = getattr(ev, f"{prefix}_name", None)
                    if name:
                        pid = player_id(getattr(ev, f"{prefix}_guid", None), name, ev.server_id)
                        seen_players[ev.server_id][pid] = ev.received_at
                        names[key][pid] = display_name(name)
                if etype == "player_kill":
                    kind = kill_kind(ev)
                    victim = player_id(ev.victim_guid, ev.victim_name, ev.server_id)
                    if victim:
                        deaths[key][victim] += 1
                    attacker = player_id(ev.attacker_guid, ev.attacker_name, ev.server_id)
                    if kind == "kill" and attacker:
                        kills[key][attacker] += 1
                    if len(feed_kills[key]) < _FEED_KILLS_MAX:
                        feed_kills[key].append({"attacker": display_name(ev.attacker_name),
                                                "victim": display_name(ev.victim_name),
                                                "weapon": ev.weapon or "", "kill_kind": kind})
        for (server_id, match_id), state in matches.items():
            srv = servers.setdefault(server_id, {})
            srv.update(match_id=match_id, last_event_at=state["last_event_at"],
                       **{k: state[k] for k in ("map_name", "gametype") if k in state})
        if not matches:
            return
        ttl = self.ttl_s
        now = time.time()
        pipe = self.redis.pipeline(transaction=False)
        increments: list = []
        for key, state in matches.items():
            mk = match_key(*key)
            fields = {k: str(v) for k, v in state.items()}
            if "started_at" not in state:
                pipe.hsetnx(mk, "started_at", str(state["last_event_at"]))
            pipe.hset(mk, mapping=fields)
            ended = state.get("ended") == "1"
            expire = 60 if ended else ttl
            pipe.expire(mk, expire)
            for suffix, values in (("kills", kills.get(key)), ("deaths", deaths.get(key))):
                if values:
                    increments += [f"{mk}:{suffix}", expire, len(values)]
                    for pid, n in values.items():
                        increments += [pid, n]
            if names.get(key):
                pipe.hset(f"{mk}:names", mapping=names[key])
                pipe.expire(f"{mk}:names", expire)
            member = f"{key[0]}:{key[1]}"
            if ended:
                pipe.zrem(MATCHES, member)
            else:
                pipe.zadd(MATCHES, {member: state["last_event_at"]})
            pipe.xadd(FEED, {"data": msgspec.json.encode({
                "server_id": key[0], "match_id": key[1], "map_name": state.get("map_name", ""),
                "ended": ended, "allies_score": state.get("allies_score"), "axis_score": state.get("axis_score"),
                "kills": feed_kills.get(key, [])}).decode(), "match_id": key[1]},
                maxlen=FEED_MAXLEN, approximate=True)
        for server_id, srv in servers.items():
            sk = server_key(server_id)
            players_key = f"{sk}:players"
            if seen_players.get(server_id):
                pipe.zadd(players_key, seen_players[server_id])
            pipe.zremrangebyscore(players_key, "-inf", now - ttl)
            pipe.expire(players_key, ttl)
            pipe.hset(sk, mapping={k: str(v) for k, v in srv.items()})
            pipe.expire(sk, ttl)
            pipe.zadd(SERVERS, {str(server_id): srv["last_event_at"]})
        for zset in (MATCHES, SERVERS):
            pipe.zremrangebyscore(zset, "-inf", now - ttl)
            pipe.expire(zset, ttl)
        if increments:
            # All per-player counters of the batch in one command: thousands of HINCRBYs each cost
            # a command to pack and a reply to parse in Python (~0.1 s a busy batch, measured).
            await self._increment(args=increments, client=pipe)  # queued on the pipeline
        pipe.expire(FEED, ttl * 12)
        pipe.zcard(SERVERS)
        results = await pipe.execute()
        if self.on_servers_live is not None:
            self.on_servers_live(results[-1])
