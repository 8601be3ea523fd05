"""An encounter report as ClickHouse rows (clickhouse/0017_encounters.sql): one fight, one parse per
player, one row per skill, one per hit. Encoded once as `JSONCompactEachRow` bytes by msgspec (in C),
handed to ClickHouse with `raw_insert` (which releases the GIL while the engine parses).

A report is one fight (fight 0): the meter's attempts are counted in it, not split, because the meter
sends per-player totals for the whole encounter only. Times: `started_at` is epoch ms as a
DateTime64(3) (ClickHouse reads a JSON number as epoch seconds, so it is written as seconds with a
fraction).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec

from uploads.report import Encounter, fill_skill, main_boss

FIGHT_COLUMNS = ["report_id", "code", "fight", "boss", "bosses", "scene", "started_at", "duration_ms",
                 "total_damage", "total_heal", "players", "deaths", "attempts", "defeated"]
PARSE_COLUMNS = ["report_id", "code", "fight", "boss", "started_at", "duration_ms", "actor_id", "name", "class_name",
                 "class_spec", "damage", "heal", "damage_taken", "dps", "hps", "crit_rate", "lucky_rate", "deaths"]
SKILL_COLUMNS = ["report_id", "fight", "actor_id", "kind", "skill_id", "name", "hits", "total", "crit_hits",
                 "lucky_hits", "hp_loss", "shield_loss"]
HIT_COLUMNS = ["report_id", "fight", "actor_id", "kind", "skill_id", "t_ms", "value", "crit", "lucky", "hp_loss",
               "shield_loss"]
TABLES = ("encounter_fights", "encounter_parses", "encounter_skills", "encounter_hits")

_encode = msgspec.json.encode


@dataclass
class Rows:
    """`JSONCompactEachRow` bytes per table, and row counts."""

    fights: bytes
    parses: bytes
    skills: bytes
    hits: bytes
    counts: dict[str, int]


def _lines(rows: list[list]) -> bytes:
    return b"\n".join(map(_encode, rows))


def rows_of(enc: Encounter, report_id: int, code: str) -> Rows:
    """The rows of one report (`report_id`: encounter_reports.id, `code`: its short id)."""
    boss = main_boss(enc.bosses)
    started = enc.started_at_ms / 1000
    fight = 0
    fights = [[report_id, code, fight, boss, [b.name for b in enc.bosses], enc.scene_name, started, enc.duration_ms,
               enc.total_damage, enc.total_heal, len(enc.players), sum(p.deaths for p in enc.players), enc.attempts,
               int(any(b.defeated for b in enc.bosses))]]
    parses, skills, hits = [], [], []
    for p in enc.players:
        parses.append([report_id, code, fight, boss, started, enc.duration_ms, p.actor_id, p.name, p.class_name,
                       p.class_spec, p.total_damage, p.total_heal, p.damage_taken, p.dps, p.hps, p.crit_rate,
                       p.lucky_rate, p.deaths])
        for kind, group in (("damage", p.damage_skills), ("heal", p.heal_skills)):
            for s in map(fill_skill, group):
                skills.append([report_id, fight, p.actor_id, kind, s.skill_id, s.name, s.hits, s.total, s.crit_hits,
                               s.lucky_hits, s.hp_loss, s.shield_loss])
                head = [report_id, fight, p.actor_id, kind, s.skill_id]
                hits.extend([*head, h.t, h.v, int(h.c), int(h.l), h.h, h.s] for h in s.timeline)
    return Rows(_lines(fights), _lines(parses), _lines(skills), _lines(hits),
                {"fights": 1, "parses": len(parses), "skills": len(skills), "hits": len(hits)})


def delete_report(client, report_id: int) -> None:
    """Remove every row of a report from the four tables (blocking; a worker thread). Lightweight
    deletes: the rows vanish from queries at once, the parts are rewritten later by merges."""
    for table in TABLES:
        client.command(f"DELETE FROM {table} WHERE report_id = {{r:UInt64}}", parameters={"r": report_id},
                       settings={"lightweight_deletes_sync": 2})


def insert_rows(client, rows: Rows) -> None:
    """Insert a report's rows (blocking; a worker thread). Call `delete_report` first on a reprocess."""
    settings = {"max_threads": 1, "max_insert_threads": 1, "input_format_parallel_parsing": 0}
    for table, columns, payload in (("encounter_fights", FIGHT_COLUMNS, rows.fights),
                                    ("encounter_parses", PARSE_COLUMNS, rows.parses),
                                    ("encounter_skills", SKILL_COLUMNS, rows.skills),
                                    ("encounter_hits", HIT_COLUMNS, rows.hits)):
        if payload:
            client.raw_insert(table, columns, payload, settings=settings, fmt="JSONCompactEachRow")
