"""Reads of parsed encounter reports (ClickHouse, clickhouse/0017_encounters.sql): fights, parses with
their percentiles, skills, damage over time, and leaderboards by boss × metric × class/spec × period.

Percentile of a parse: its percentile rank within its bracket (same boss, same class and spec, same
period): 100 × (parses of the bracket whose value is as good or worse) / (parses of the bracket),
i.e. 100 × `cume_dist` computed with a window over the bracket; the best parse is 100, a bracket of
one parse is 100. "Better" is higher for dps and hps, lower for damage taken. Each bracket also gets
its exact quantiles p50/p75/p90/p95/p99 (ClickHouse `quantilesExactInclusive`, linear interpolation
between the closest ranks, as numpy's default `percentile`).
"""

from __future__ import annotations

import datetime as dt

METRICS = {"dps": "DESC", "hps": "DESC", "damage_taken": "ASC"}  # the order of "best first"
PERIODS = {"all": None, "day": 1, "week": 7, "month": 30}
QUANTILE_LEVELS = (0.5, 0.75, 0.9, 0.95, 0.99)


def since_of(period: str) -> float:
    """Epoch seconds where a leaderboard period starts (0 for all time)."""
    days = PERIODS[period]
    if days is None:
        return 0.0
    return (dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=days)).timestamp()


def _ranked(metric: str, where: str) -> str:
    """Parses matching `where`, each with `percentile` within its (class, spec) bracket."""
    worse_first = "ASC" if METRICS[metric] == "DESC" else "DESC"
    return (f"SELECT *, {metric} AS value, round(100 * count() OVER (PARTITION BY class_name, class_spec ORDER BY"
            f" {metric} {worse_first} RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)"
            f" / count() OVER (PARTITION BY class_name, class_spec), 1) AS percentile,"
            f" count() OVER (PARTITION BY class_name, class_spec) AS bracket_size"
            f" FROM encounter_parses WHERE {where}")


def _parse_json(r: dict) -> dict:
    return {"reportId": r["code"], "fight": r["fight"], "boss": r["boss"], "actorId": r["actor_id"], "name": r["name"],
            "className": r["class_name"], "classSpec": r["class_spec"], "damage": r["damage"], "heal": r["heal"],
            "damageTaken": r["damage_taken"], "dps": r["dps"], "hps": r["hps"], "critRate": r["crit_rate"],
            "luckyRate": r["lucky_rate"], "deaths": r["deaths"], "durationMs": r["duration_ms"],
            "startedAtMs": int(r["started_at"].timestamp() * 1000), "percentile": r["percentile"],
            "bracketSize": r["bracket_size"]}


async def fights(engines, report_id: int) -> list[dict]:
    """The report's fights with aggregates: `[{"fight", "boss", "bosses", "scene", "startedAtMs",
    "durationMs", "totalDamage", "totalHeal", "dps" (raid damage per s), "players", "deaths",
    "attempts", "defeated"}]`."""
    rows = await engines.query_dicts(
        "SELECT * FROM encounter_fights WHERE report_id = {r:UInt64} ORDER BY fight", {"r": report_id})
    return [{"fight": f["fight"], "boss": f["boss"], "bosses": f["bosses"], "scene": f["scene"],
             "startedAtMs": int(f["started_at"].timestamp() * 1000), "durationMs": f["duration_ms"],
             "totalDamage": f["total_damage"], "totalHeal": f["total_heal"],
             "dps": round(f["total_damage"] / (f["duration_ms"] / 1000), 3), "players": f["players"],
             "deaths": f["deaths"], "attempts": f["attempts"], "defeated": bool(f["defeated"])} for f in rows]


async def report_parses(engines, report_id: int, metric: str = "dps", fight: int | None = None,
                        actor_id: int | None = None) -> list[dict]:
    """The report's parses (one per player per fight), each with its all-time percentile in its
    bracket, best first."""
    bosses = await engines.query("SELECT DISTINCT boss FROM encounter_parses WHERE report_id = {r:UInt64}",
                                 {"r": report_id})
    if not bosses:
        return []
    inner = _ranked(metric, "boss IN {bosses:Array(String)}")
    rows = await engines.query_dicts(
        f"SELECT * FROM ({inner}) WHERE report_id = {{r:UInt64}}"
        " AND ({f:Int32} < 0 OR fight = {f:Int32}) AND ({a:Nullable(Int64)} IS NULL OR actor_id = {a:Nullable(Int64)})"
        f" ORDER BY fight, value {METRICS[metric]}, actor_id",
        {"bosses": [b[0] for b in bosses], "r": report_id, "f": -1 if fight is None else fight, "a": actor_id})
    return [_parse_json(r) for r in rows]


async def skills(engines, report_id: int, actor_id: int | None = None) -> list[dict]:
    rows = await engines.query_dicts(
        "SELECT actor_id, kind, skill_id, name, hits, total, crit_hits, lucky_hits, hp_loss, shield_loss"
        " FROM encounter_skills WHERE report_id = {r:UInt64} AND ({a:Nullable(Int64)} IS NULL OR actor_id = {a:Nullable(Int64)})"
        " ORDER BY actor_id, kind, total DESC", {"r": report_id, "a": actor_id})
    return [{"actorId": r["actor_id"], "kind": r["kind"], "skillId": r["skill_id"], "name": r["name"], "hits": r["hits"],
             "total": r["total"], "critHits": r["crit_hits"], "luckyHits": r["lucky_hits"], "hpLoss": r["hp_loss"],
             "shieldLoss": r["shield_loss"]} for r in rows]


async def damage_over_time(engines, report_id: int, bucket_ms: int, kind: str = "damage") -> dict:
    """Per player, the damage (or heal) of each `bucket_ms` slice of the encounter, from the hit
    timelines: `{"bucketMs", "series": [{"actorId", "name", "points": [[t_ms, value], ...]}]}` (slices
    without hits are 0; a report without timelines has no series)."""
    rows = await engines.query(
        "SELECT h.actor_id, any(p.name), groupArray((b, v)) FROM ("
        " SELECT actor_id, intDiv(t_ms, {b:UInt32}) AS b, sum(value) AS v FROM encounter_hits"
        " WHERE report_id = {r:UInt64} AND kind = {k:String} GROUP BY actor_id, b) AS h"
        " LEFT JOIN (SELECT actor_id, name FROM encounter_parses WHERE report_id = {r:UInt64}) AS p USING actor_id"
        " GROUP BY h.actor_id ORDER BY h.actor_id", {"r": report_id, "b": bucket_ms, "k": kind})
    fight = await engines.query("SELECT max(duration_ms) FROM encounter_fights WHERE report_id = {r:UInt64}",
                                {"r": report_id})
    last = (fight[0][0] or 0) // bucket_ms if fight else 0
    series = []
    for actor_id, name, pairs in rows:
        by = dict(pairs)
        last = max(last, max(by, default=0))
        series.append({"actorId": actor_id, "name": name, "by": by})
    for s in series:
        by = s.pop("by")
        s["points"] = [[b * bucket_ms, by.get(b, 0)] for b in range(last + 1)]
    return {"bucketMs": bucket_ms, "kind": kind, "series": series}


async def leaderboard(engines, *, boss: str, metric: str, class_name: str | None, class_spec: str | None,
                      period: str, limit: int, offset: int) -> dict:
    """Parses of `boss` in `period`, best first by `metric`, optionally of one class (and spec); each
    with its percentile in its bracket. `{"total", "parses": [...], "brackets": [{"className",
    "classSpec", "count", "quantiles": {"p50", "p75", "p90", "p95", "p99"}}]}`."""
    params = {"boss": boss, "since": since_of(period), "cls": class_name, "spec": class_spec,
              "limit": limit, "offset": offset}
    where = "boss = {boss:String} AND started_at >= toDateTime64({since:Float64}, 3)"
    filt = ("({cls:Nullable(String)} IS NULL OR class_name = {cls:Nullable(String)})"
            " AND ({spec:Nullable(String)} IS NULL OR class_spec = {spec:Nullable(String)})")
    rows = await engines.query_dicts(
        f"SELECT * FROM ({_ranked(metric, where)}) WHERE {filt} ORDER BY value {METRICS[metric]}, report_id, actor_id"
        " LIMIT {limit:UInt32} OFFSET {offset:UInt32}", params)
    total = await engines.query(f"SELECT count() FROM encounter_parses WHERE {where} AND {filt}", params)
    levels = ", ".join(map(str, QUANTILE_LEVELS))
    brackets = await engines.query(
        f"SELECT class_name, class_spec, count(), quantilesExactInclusive({levels})({metric}) FROM encounter_parses"
        f" WHERE {where} AND {filt} GROUP BY class_name, class_spec ORDER BY class_name, class_spec", params)
    return {"total": total[0][0], "parses": [_parse_json(r) for r in rows],
            "brackets": [{"className": c, "classSpec": s, "count": n,
                          "quantiles": {f"p{round(q * 100)}": v for q, v in zip(QUANTILE_LEVELS, qs)}}
                         for c, s, n, qs in brackets]}


async def bosses(engines) -> list[dict]:
    """Bosses with parses: `[{"boss", "parses", "reports"}]`, most parses first."""
    rows = await engines.query("SELECT boss, count(), uniqExact(report_id) FROM encounter_parses WHERE boss != ''"
                               " GROUP BY boss ORDER BY count() DESC, boss LIMIT 200")
    return [{"boss": b, "parses": n, "reports": r} for b, n, r in rows]


async def stored_reports(engines) -> int:
    """Reports with rows in ClickHouse (for the accounting's cross-check)."""
    rows = await engines.query("SELECT uniqExact(report_id) FROM encounter_fights")
    return rows[0][0]
