"""Documents for the upload tests: encounter reports of our format (with a true RFC 8785 checksum
computed by the `rfc8785` library, independently of the server's fast path) and batches in the
resonance-logs meter's protocol, shaped like what the meter's uploader serialises."""

from __future__ import annotations

import hashlib
import json
import random

import rfc8785

CLASSES = [("Stormblade", "Iaido"), ("Stormblade", "Moonstrike"), ("Frost Mage", "Icicle"),
           ("Verdant Oracle", "Lifebind"), ("Heavy Guardian", "Earthfort")]


def with_checksum(doc: dict) -> dict:
    """`doc` plus its `checksum`: SHA-256 of its RFC 8785 form without `checksum`."""
    bare = {k: v for k, v in doc.items() if k != "checksum"}
    return {**bare, "checksum": hashlib.sha256(rfc8785.dumps(bare)).hexdigest()}


def encounter(encounter_id: str, *, seed: int = 1, players: int = 5, skills: int = 3, hits: int = 40,
              boss: str = "Tina the Tempest", started_at_ms: int = 1_767_225_600_000, duration_ms: int = 90_000,
              names: list[str] | None = None) -> dict:
    """A plausible encounter: `players` players, each with `skills` damage skills of `hits` hits and one
    heal skill; totals and rates consistent with the timelines."""
    rng = random.Random(seed)
    out_players = []
    for i in range(players):
        class_name, spec = CLASSES[i % len(CLASSES)]
        damage_skills = []
        for s in range(skills):
            timeline = []
            for h in range(hits):
                t = min(duration_ms, int((h + rng.random()) * duration_ms / hits))
                timeline.append({"t": t, "v": rng.randint(1_000, 90_000), "c": rng.random() < 0.3,
                                 "l": rng.random() < 0.1, "h": rng.randint(0, 50_000), "s": rng.randint(0, 5_000)})
            damage_skills.append({"skillId": 1000 + s, "name": f"Skill {s}", "timeline": timeline})
        heal_tl = [{"t": int(h * duration_ms / 10), "v": rng.randint(100, 5_000), "c": False, "l": False, "h": 0, "s": 0}
                   for h in range(10)]
        damage = sum(h["v"] for s in damage_skills for h in s["timeline"])
        heal = sum(h["v"] for h in heal_tl)
        all_hits = [h for s in damage_skills for h in s["timeline"]]
        name = names[i] if names else f"Player{seed}_{i}"
        out_players.append({
            "actorId": 10_000 + i, "name": name, "className": class_name, "classSpec": spec,
            "totalDamage": damage, "totalHeal": heal, "damageTaken": rng.randint(0, 500_000), "deaths": 0,
            "dps": round(damage / (duration_ms / 1000), 3), "hps": round(heal / (duration_ms / 1000), 3),
            "critRate": round(sum(h["c"] for h in all_hits) / len(all_hits), 4),
            "luckyRate": round(sum(h["l"] for h in all_hits) / len(all_hits), 4),
            "damageSkills": damage_skills, "healSkills": [{"skillId": 9000, "timeline": heal_tl}]})
    doc = {"schemaVersion": 1, "encounterId": encounter_id, "startedAtMs": started_at_ms,
           "endedAtMs": started_at_ms + duration_ms, "durationMs": duration_ms,
           "totalDamage": sum(p["totalDamage"] for p in out_players),
           "totalHeal": sum(p["totalHeal"] for p in out_players), "sceneName": "Tempest Spire",
           "meterVersion": "test-1.0", "bosses": [{"name": boss, "maxHp": 50_000_000, "defeated": True}],
           "players": out_players}
    return with_checksum(doc)


def body(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False).encode()


def meter_source_hash(enc: dict) -> str:
    """The meter's own `sourceHash` (its uploader hashes start/end, local player, scene, attempts and
    the sorted actor ids); any stable per-recording hash serves the tests."""
    canonical = {"startedAtMs": enc["startedAtMs"], "endedAtMs": enc["endedAtMs"], "localPlayerId": enc["localPlayerId"],
                 "sceneId": enc["sceneId"], "sceneName": enc["sceneName"],
                 "actorIds": sorted(a["actorId"] for a in enc["actorEncounterStats"])}
    return hashlib.sha256(json.dumps(canonical, separators=(",", ":")).encode()).hexdigest()


def meter_encounter(*, local_player: int, started_at_ms: int = 1_767_300_000_000, players: int = 4, seed: int = 7,
                    boss: str = "Goblin King", scene_id: int = 3001) -> dict:
    """One encounter as the meter serialises it (camelCase; optional members present or null)."""
    rng = random.Random(seed)
    ended = started_at_ms + 120_000
    stats, dmg_skills, heal_skills = [], [], []
    for i in range(players):
        actor = 50_000 + i
        dealt = rng.randint(1_000_000, 9_000_000)
        hits = rng.randint(200, 900)
        stats.append({
            "actorId": actor, "name": f"Hero{i}", "classId": 1 + i % 3, "classSpec": 10 + i % 2, "abilityScore": 20000,
            "level": 60, "damageDealt": dealt, "healDealt": rng.randint(0, 100_000), "damageTaken": rng.randint(0, 90_000),
            "hitsDealt": hits, "hitsHeal": 3, "hitsTaken": 20, "critHitsDealt": hits // 4, "critHitsHeal": 0,
            "critHitsTaken": 0, "luckyHitsDealt": hits // 10, "luckyHitsHeal": 0, "luckyHitsTaken": 0,
            "critTotalDealt": dealt // 3, "critTotalHeal": 0, "critTotalTaken": 0, "luckyTotalDealt": dealt // 12,
            "luckyTotalHeal": 0, "luckyTotalTaken": 0, "bossDamageDealt": dealt, "bossHitsDealt": hits,
            "bossCritHitsDealt": 0, "bossLuckyHitsDealt": 0, "bossCritTotalDealt": 0, "bossLuckyTotalDealt": 0,
            "revives": 0, "dps": dealt / 120.0, "duration": 120.0, "isPlayer": True,
            "isLocalPlayer": actor == local_player, "attributes": None})
        dmg_skills.append({"attackerId": actor, "defenderId": 900, "skillId": 2000 + i, "hits": hits, "totalValue": dealt,
                           "critHits": hits // 4, "luckyHits": hits // 10, "critTotal": dealt // 3,
                           "luckyTotal": dealt // 12, "hpLossTotal": dealt, "shieldLossTotal": 0, "hitDetails": None,
                           "monsterName": boss})
        heal_skills.append({"healerId": actor, "targetId": actor, "skillId": 3000, "hits": 3, "totalValue": 1000,
                            "critHits": 0, "luckyHits": 0, "critTotal": 0, "luckyTotal": 0, "healDetails": None,
                            "monsterName": None})
    stats.append({**stats[0], "actorId": 900, "name": boss, "isPlayer": False, "isLocalPlayer": False})
    enc = {"startedAtMs": started_at_ms, "endedAtMs": ended, "localPlayerId": local_player,
           "totalDmg": sum(s["damageDealt"] for s in stats if s["isPlayer"]), "totalHeal": 4000, "sceneId": scene_id,
           "sceneName": "Goblin Lair", "sourceHash": None,
           "attempts": [{"attemptIndex": 0, "startedAtMs": started_at_ms, "endedAtMs": ended, "reason": "boss_dead",
                         "bossHpStart": 9_000_000, "bossHpEnd": 0, "totalDeaths": 1}],
           "deathEvents": [{"timestampMs": started_at_ms + 60_000, "actorId": 50_001, "killerId": 900, "skillId": 77,
                            "isLocalPlayer": False, "attemptIndex": 0}],
           "actorEncounterStats": stats, "damageSkillStats": dmg_skills, "healSkillStats": heal_skills,
           "entities": [{"entityId": s["actorId"], "name": s["name"], "classId": s["classId"], "classSpec": s["classSpec"],
                         "abilityScore": 20000, "level": 60} for s in stats],
           "encounterBosses": [{"monsterName": boss, "hits": 1000, "totalDamage": 9_000_000, "maxHp": 9_000_000,
                                "isDefeated": True}],
           "detailedPlayerdata": [{"playerId": local_player, "lastSeenMs": ended, "charSerializeJson": "{}",
                                   "professionListJson": None, "talentNodeIdsJson": None}],
           "dungeonSegments": []}
    enc["sourceHash"] = meter_source_hash(enc)
    return enc
