"""Realistic request bodies in the OpenMOHAA tracker's wire format (numbers as strings, both players'
positions on kills), for the load generator. Deterministic for a given seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

WEAPONS = ["Thompson", "MP40", "Kar98", "M1 Garand", "BAR", "StG 44", "Colt .45", "Springfield '03"]
HITLOCS = ["head", "helmet", "neck", "torso_upper", "torso_mid", "torso_lower", "pelvis", "r_arm_upper",
           "l_leg_lower", "general"]
# Share of each event type in a busy match, roughly what a tracker sends.
MIX = [("weapon_fire", 40), ("weapon_hit", 14), ("damage", 14), ("distance", 14), ("player_kill", 8),
       ("player_spawn", 5), ("jump", 3), ("weapon_change", 1), ("chat", 1)]


def _f(rng: random.Random, lo: float, hi: float) -> str:
    return f"{rng.uniform(lo, hi):.3f}"


def _block(rng: random.Random, prefix: str, player: int) -> dict:
    return {f"{prefix}_name": f"^{player % 8}Player{player}", f"{prefix}_guid": str(1000 + player) if player % 3 else f"unauth_{player}",
            f"{prefix}_team": "allies" if player % 2 else "axis", f"{prefix}_x": _f(rng, -4000, 4000),
            f"{prefix}_y": _f(rng, -4000, 4000), f"{prefix}_z": _f(rng, -200, 600), f"{prefix}_pitch": _f(rng, -89, 89),
            f"{prefix}_yaw": _f(rng, 0, 360), f"{prefix}_stance": rng.choice(["stand", "crouch", "prone"])}


def make_event(rng: random.Random, match: int, t: float, players: int = 32) -> dict:
    etype = rng.choices([m[0] for m in MIX], weights=[m[1] for m in MIX])[0]
    a, v = rng.randrange(players), rng.randrange(players)
    ev = {"type": etype, "match_id": f"match_{match:016x}", "session_id": f"sess_{match:016x}", "timestamp": f"{t:.2f}"}
    if etype in ("player_kill", "damage"):
        ev.update(_block(rng, "attacker", a), **_block(rng, "victim", v), weapon=rng.choice(WEAPONS),
                  damage=_f(rng, 5, 120), hitloc=rng.choice(HITLOCS), mod="bullet")
    elif etype == "weapon_hit":
        ev.update(_block(rng, "player", a), **_block(rng, "target", v), hitloc=rng.choice(HITLOCS))
    else:
        ev.update(_block(rng, "player", a))
        if etype == "weapon_fire":
            ev.update(weapon=rng.choice(WEAPONS), ammo_remaining=str(rng.randrange(30)))
        elif etype == "distance":
            ev.update(walked=_f(rng, 0, 300), total_distance=_f(rng, 0, 100000))
        elif etype == "jump":
            ev["jump_height"] = _f(rng, 10, 60)
        elif etype == "weapon_change":
            ev.update(old_weapon=rng.choice(WEAPONS), new_weapon=rng.choice(WEAPONS))
        elif etype == "chat":
            ev.update(message="gg", team_only="0")
    return ev


def bodies(events_per_request: int, count: int, seed: int = 7, matches: int = 64) -> list[bytes]:
    """`count` JSON-array bodies of `events_per_request` events each, spread over `matches` matches."""
    rng = random.Random(seed)
    out = []
    for i in range(count):
        match = rng.randrange(matches)
        events = [make_event(rng, match, rng.uniform(0, 1200)) for _ in range(events_per_request)]
        out.append(json.dumps(events, separators=(",", ":")).encode())
    return out


def write_bodies(folder: Path, events_per_request: int, count: int, seed: int = 7) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i, body in enumerate(bodies(events_per_request, count, seed)):
        path = folder / f"body_{events_per_request}_{i}.json"
        path.write_bytes(body)
        paths.append(path)
    return paths
