"""The resonance-logs damage meter's own upload protocol, taken unchanged, and its conversion into our
encounter report (`uploads.report.Encounter`), so both upload paths produce the same reports.

The meter (a public desktop client for Blue Protocol: Star Resonance) posts to `<base>/upload/` with
`X-Api-Key` and `{"schemaVersion"?, "clientVersion"?, "encounters": [...]}`; before that it may ask
`<base>/upload/check` with `{"hashes": [its sourceHash of each encounter]}` which ones we have. The
member names and types below follow the client's serde structs (camelCase; integers; optional
members may be absent or null). Its `detailedPlayerdata` is spelled so; `detailedPlayerData` is
accepted too. Members we do not use (entities, detailed player data, dungeon segments, attributes)
are kept in the stored raw document only.

The meter sends per-player and per-skill totals, no hit timelines: the converted report's skills
carry the totals and empty timelines. Classes are the game's numeric ids: `className` becomes
`class <classId>` and `classSpec` `spec <classSpec>` (we hold no table of the game's names).
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from msgspec import Meta

from uploads.report import Boss, Encounter, Player, Skill

I64 = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]
Text = Annotated[str, Meta(max_length=256)]


class Attempt(msgspec.Struct, rename="camel"):
    attempt_index: int | None = None
    started_at_ms: I64 | None = None
    ended_at_ms: I64 | None = None
    reason: Text | None = None
    boss_hp_start: I64 | None = None
    boss_hp_end: I64 | None = None
    total_deaths: int | None = None


class DeathEvent(msgspec.Struct, rename="camel"):
    timestamp_ms: I64 | None = None
    actor_id: I64 | None = None
    killer_id: I64 | None = None
    skill_id: I64 | None = None
    is_local_player: bool | None = None
    attempt_index: int | None = None


class ActorStat(msgspec.Struct, rename="camel"):
    actor_id: I64
    name: Text | None = None
    class_id: I64 | None = None
    class_spec: I64 | None = None
    ability_score: I64 | None = None
    level: I64 | None = None
    damage_dealt: I64 | None = None
    heal_dealt: I64 | None = None
    damage_taken: I64 | None = None
    hits_dealt: I64 | None = None
    hits_heal: I64 | None = None
    hits_taken: I64 | None = None
    crit_hits_dealt: I64 | None = None
    crit_hits_heal: I64 | None = None
    lucky_hits_dealt: I64 | None = None
    lucky_hits_heal: I64 | None = None
    crit_total_dealt: I64 | None = None
    lucky_total_dealt: I64 | None = None
    boss_damage_dealt: I64 | None = None
    revives: I64 | None = None
    dps: float | None = None
    duration: float | None = None
    is_player: bool | None = None
    is_local_player: bool | None = None
    attributes: str | None = None


class DamageSkillStat(msgspec.Struct, rename="camel"):
    attacker_id: I64
    skill_id: I64
    defender_id: I64 | None = None
    hits: I64 | None = None
    total_value: I64 | None = None
    crit_hits: I64 | None = None
    lucky_hits: I64 | None = None
    crit_total: I64 | None = None
    lucky_total: I64 | None = None
    hp_loss_total: I64 | None = None
    shield_loss_total: I64 | None = None
    monster_name: Text | None = None


class HealSkillStat(msgspec.Struct, rename="camel"):
    healer_id: I64
    skill_id: I64
    target_id: I64 | None = None
    hits: I64 | None = None
    total_value: I64 | None = None
    crit_hits: I64 | None = None
    lucky_hits: I64 | None = None
    crit_total: I64 | None = None
    lucky_total: I64 | None = None
    monster_name: Text | None = None


class EncounterBoss(msgspec.Struct, rename="camel"):
    monster_name: Text
    hits: I64 | None = None
    total_damage: I64 | None = None
    max_hp: I64 | None = None
    is_defeated: bool | None = None


class MeterEncounter(msgspec.Struct, rename="camel"):
    """One encounter of the meter's batch."""

    started_at_ms: Annotated[int, Meta(ge=0, le=2**63 - 1)]
    ended_at_ms: I64 | None = None
    local_player_id: I64 | None = None
    total_dmg: I64 | None = None
    total_heal: I64 | None = None
    scene_id: I64 | None = None
    scene_name: Text | None = None
    source_hash: Annotated[str, Meta(max_length=128)] | None = None
    attempts: list[Attempt] | None = None
    death_events: list[DeathEvent] | None = None
    actor_encounter_stats: list[ActorStat] | None = None
    damage_skill_stats: list[DamageSkillStat] | None = None
    heal_skill_stats: list[HealSkillStat] | None = None
    entities: list[dict] | None = None
    encounter_bosses: list[EncounterBoss] | None = None
    detailed_playerdata: list[dict] | None = None
    detailed_player_data: list[dict] | None = None
    dungeon_segments: list[dict] | None = None


class MeterBatch(msgspec.Struct, rename="camel"):
    """The body of `POST /api/v1/upload/`."""

    encounters: list[dict]
    schema_version: int | None = None
    client_version: Annotated[str, Meta(max_length=64)] | None = None


class MeterCheck(msgspec.Struct):
    """The body of `POST /api/v1/upload/check`."""

    hashes: list[Annotated[str, Meta(max_length=128)]]


def players_of(enc: MeterEncounter) -> list[ActorStat]:
    return [a for a in enc.actor_encounter_stats or [] if a.is_player]


def fingerprint(enc: MeterEncounter) -> str:
    """The server-side identity of a fight, whoever recorded it: SHA-256 of its scene, its bosses and
    the set of its players (sorted). Two uploads are one fight when their fingerprints are equal and
    their start times lie within `FRAGSTATS_UPLOAD_DEDUP_WINDOW_MS` (the meters of a group start a
    few hundred ms apart, and each has its own `sourceHash`, which includes its local player)."""
    scene = f"id:{enc.scene_id}" if enc.scene_id is not None else f"name:{(enc.scene_name or '').strip().lower()}"
    bosses = sorted((b.monster_name or "").strip().lower() for b in enc.encounter_bosses or [])
    players = sorted({a.actor_id for a in players_of(enc)})
    text = f"scene={scene}|bosses={','.join(bosses)}|players={','.join(map(str, players))}"
    return hashlib.sha256(text.encode()).hexdigest()


def ended_at(enc: MeterEncounter) -> int:
    """The encounter's end (epoch ms): `endedAtMs`, else the latest attempt end or death, else its start."""
    if enc.ended_at_ms is not None:
        return enc.ended_at_ms
    candidates = [a.ended_at_ms for a in enc.attempts or [] if a.ended_at_ms is not None]
    candidates += [d.timestamp_ms for d in enc.death_events or [] if d.timestamp_ms is not None]
    return max([enc.started_at_ms, *candidates])


def _ratio(part: int | None, whole: int | None) -> float:
    return min(1.0, max(0.0, (part or 0) / whole)) if whole else 0.0


def to_report(enc: MeterEncounter, client_version: str | None) -> Encounter:
    """Our encounter report for one meter encounter (checksum left empty: the meter sends none; its
    identity is `sourceHash` and the fingerprint). Duration is at least 1 ms."""
    end = ended_at(enc)
    duration = max(1, end - enc.started_at_ms)
    seconds = duration / 1000
    deaths: dict[int, int] = {}
    for d in enc.death_events or []:
        if d.actor_id is not None:
            deaths[d.actor_id] = deaths.get(d.actor_id, 0) + 1
    damage: dict[int, list[Skill]] = {}
    for s in enc.damage_skill_stats or []:
        damage.setdefault(s.attacker_id, []).append(Skill(
            skill_id=s.skill_id, hits=max(0, s.hits or 0), total=s.total_value or 0, crit_hits=max(0, s.crit_hits or 0),
            lucky_hits=max(0, s.lucky_hits or 0), hp_loss=max(0, s.hp_loss_total or 0),
            shield_loss=max(0, s.shield_loss_total or 0), name=s.monster_name and f"on {s.monster_name}" or ""))
    heal: dict[int, list[Skill]] = {}
    for s in enc.heal_skill_stats or []:
        heal.setdefault(s.healer_id, []).append(Skill(
            skill_id=s.skill_id, hits=max(0, s.hits or 0), total=s.total_value or 0, crit_hits=max(0, s.crit_hits or 0),
            lucky_hits=max(0, s.lucky_hits or 0), hp_loss=0, shield_loss=0))
    players = []
    for a in players_of(enc):
        dealt, healed = a.damage_dealt or 0, a.heal_dealt or 0
        players.append(Player(
            actor_id=a.actor_id, name=(a.name or f"#{a.actor_id}")[:128],
            class_name=f"class {a.class_id}" if a.class_id is not None else "unknown",
            class_spec=f"spec {a.class_spec}" if a.class_spec is not None else "",
            total_damage=dealt, total_heal=healed, damage_taken=a.damage_taken or 0,
            dps=a.dps if a.dps is not None and a.dps >= 0 and a.dps == a.dps else max(0.0, dealt / seconds),
            hps=max(0.0, healed / seconds), crit_rate=_ratio(a.crit_hits_dealt, a.hits_dealt),
            lucky_rate=_ratio(a.lucky_hits_dealt, a.hits_dealt), deaths=deaths.get(a.actor_id, 0),
            damage_skills=damage.get(a.actor_id, []), heal_skills=heal.get(a.actor_id, [])))
    bosses = [Boss(name=b.monster_name[:128], max_hp=b.max_hp if (b.max_hp or 0) > 0 else None,
                   defeated=bool(b.is_defeated), total_damage=b.total_damage or 0) for b in enc.encounter_bosses or []]
    scene = enc.scene_name or (f"scene {enc.scene_id}" if enc.scene_id is not None else "")
    return Encounter(
        schema_version=1, encounter_id=enc.source_hash or fingerprint(enc), started_at_ms=enc.started_at_ms,
        ended_at_ms=enc.started_at_ms + duration, duration_ms=duration,
        total_damage=enc.total_dmg if enc.total_dmg is not None else sum(p.total_damage for p in players),
        total_heal=enc.total_heal if enc.total_heal is not None else sum(p.total_heal for p in players),
        bosses=bosses, players=players, checksum="0" * 64, scene_name=scene[:128],
        meter_version=(client_version or "")[:128], attempts=max(1, len(enc.attempts or [])))
