"""An encounter report: the document of `POST /api/v1/encounters`, and the one shape both upload
paths end in (the damage meter's protocol is converted into it by `uploads.meter`), so both produce
the same fights, parses and timelines.

Wire format (JSON, member names in camelCase as the meter spells them; times in ms, epoch ms for the
`*AtMs` members; values are integers unless said):

    {"schemaVersion": 1, "encounterId": str (the client's id, 1..128 chars),
     "startedAtMs", "endedAtMs", "durationMs" (1 ms .. FRAGSTATS_UPLOAD_MAX_DURATION_MS, at most
     endedAtMs - startedAtMs), "totalDamage", "totalHeal", "sceneName"?: str, "meterVersion"?: str,
     "bosses": [{"name", "maxHp"?, "defeated"?: bool, "totalDamage"?}],
     "players": [{"actorId", "name", "className", "classSpec", "totalDamage", "totalHeal",
                  "damageTaken"?, "deaths"?, "dps": float, "hps": float, "critRate": 0..1, "luckyRate": 0..1,
                  "damageSkills": [Skill], "healSkills": [Skill]}]   (1 .. FRAGSTATS_UPLOAD_MAX_PLAYERS),
     "checksum": lowercase hex SHA-256 of the body without `checksum`, canonicalised by RFC 8785 (JCS)}
    Skill = {"skillId", "name"?, "hits"?, "total"?, "critHits"?, "luckyHits"?, "hpLoss"?, "shieldLoss"?,
             "timeline": [{"t": ms since startedAtMs, "v": value, "c": crit bool, "l": lucky bool,
                           "h": hp loss, "s": shield loss}]   (≤ FRAGSTATS_UPLOAD_MAX_HITS_PER_SKILL)}

A skill's `hits`/`total`/`critHits`/`luckyHits`/`hpLoss`/`shieldLoss`, when absent, are counted from
its timeline. Unknown members are ignored (and covered by the checksum). Every problem is reported
with its JSON path, e.g. `$.players[3].damageSkills[0].timeline`.
"""

from __future__ import annotations

import math
from typing import Annotated

import msgspec
from msgspec import Meta

I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
U64 = Annotated[int, Meta(ge=0, le=2**63 - 1)]
U32 = Annotated[int, Meta(ge=0, le=2**32 - 1)]
Rate = Annotated[float, Meta(ge=0.0, le=1.0)]
Name = Annotated[str, Meta(max_length=128)]
SCHEMA_VERSION = 1


class Hit(msgspec.Struct):
    t: U32
    v: I64
    c: bool = False
    l: bool = False  # noqa: E741 (the wire name)
    h: U64 = 0
    s: U64 = 0


class Skill(msgspec.Struct, rename="camel"):
    skill_id: I64
    name: Name = ""
    hits: U64 | None = None
    total: I64 | None = None
    crit_hits: U64 | None = None
    lucky_hits: U64 | None = None
    hp_loss: U64 | None = None
    shield_loss: U64 | None = None
    timeline: list[Hit] = []


class Player(msgspec.Struct, rename="camel"):
    actor_id: I64
    name: Name
    class_name: Name
    class_spec: Name
    total_damage: I64
    total_heal: I64
    dps: float
    hps: float
    crit_rate: Rate
    lucky_rate: Rate
    damage_taken: I64 = 0
    deaths: U32 = 0
    damage_skills: list[Skill] = []
    heal_skills: list[Skill] = []


class Boss(msgspec.Struct, rename="camel"):
    name: Name
    max_hp: U64 | None = None
    defeated: bool = False
    total_damage: I64 = 0


class Encounter(msgspec.Struct, rename="camel"):
    """The document of `POST /api/v1/encounters` (see the module docstring)."""

    schema_version: int
    encounter_id: Annotated[str, Meta(min_length=1, max_length=128)]
    started_at_ms: U64
    ended_at_ms: U64
    duration_ms: int
    total_damage: I64
    total_heal: I64
    bosses: list[Boss]
    players: list[Player]
    checksum: Annotated[str, Meta(pattern="^[0-9a-f]{64}$")]
    scene_name: Name = ""
    meter_version: Name = ""
    attempts: U32 = 1


def problems(enc: Encounter, max_players: int, max_hits: int, max_duration_ms: int) -> list[dict]:
    """What is wrong with a decoded encounter beyond its types: `[{"index": 0, "field", "reason"}]`
    (empty when it is fine). Limits: players, hits per skill, duration (settings)."""
    out: list[dict] = []

    def bad(field: str, reason: str) -> None:
        if len(out) < 50:
            out.append({"index": 0, "field": field, "reason": reason})

    if enc.schema_version != SCHEMA_VERSION:
        bad("$.schemaVersion", f"must be {SCHEMA_VERSION}")
    if not 1 <= enc.duration_ms <= max_duration_ms:
        bad("$.durationMs", f"must be 1..{max_duration_ms} ms")
    if enc.ended_at_ms < enc.started_at_ms:
        bad("$.endedAtMs", "must not be before startedAtMs")
    elif enc.duration_ms > enc.ended_at_ms - enc.started_at_ms:
        bad("$.durationMs", "must not exceed endedAtMs - startedAtMs")
    if not 1 <= len(enc.players) <= max_players:
        bad("$.players", f"must hold 1..{max_players} players")
    span = enc.ended_at_ms - enc.started_at_ms
    seen: set[int] = set()
    for i, p in enumerate(enc.players):
        at = f"$.players[{i}]"
        if p.actor_id in seen:
            bad(f"{at}.actorId", f"actor {p.actor_id} appears twice")
        seen.add(p.actor_id)
        for name in ("dps", "hps"):
            value = getattr(p, name)
            if not math.isfinite(value) or value < 0:
                bad(f"{at}.{name}", "must be a finite number >= 0")
        for kind, skills in (("damageSkills", p.damage_skills), ("healSkills", p.heal_skills)):
            for j, s in enumerate(skills):
                if len(s.timeline) > max_hits:
                    bad(f"{at}.{kind}[{j}].timeline", f"holds {len(s.timeline)} hits; at most {max_hits}")
                elif s.timeline and max(h.t for h in s.timeline) > span:
                    bad(f"{at}.{kind}[{j}].timeline", "a hit's t lies after the encounter's end")
    return out


def main_boss(bosses: list[Boss]) -> str:
    """The fight's boss for leaderboards: the one with the most hit points, else the first; '' for none."""
    if not bosses:
        return ""
    return max(bosses, key=lambda b: (b.max_hp or 0, -bosses.index(b))).name


def fill_skill(s: Skill) -> Skill:
    """A skill with its absent counters counted from its timeline."""
    tl = s.timeline
    return msgspec.structs.replace(
        s, hits=len(tl) if s.hits is None else s.hits, total=sum(h.v for h in tl) if s.total is None else s.total,
        crit_hits=sum(h.c for h in tl) if s.crit_hits is None else s.crit_hits,
        lucky_hits=sum(h.l for h in tl) if s.lucky_hits is None else s.lucky_hits,
        hp_loss=sum(h.h for h in tl) if s.hp_loss is None else s.hp_loss,
        shield_loss=sum(h.s for h in tl) if s.shield_loss is None else s.shield_loss)
