"""Urban Terror 4.x facts the ``games.log`` parser needs: versions, game types, means of death,
the weapon numbers of ``Hit:`` lines, body parts and flags.

Pure tables and lookups, no state. ``ingest.q3log`` uses them once it knows a log is Urban Terror's
(an ``InitGame``/``InitRound`` naming the game, or a ``UT_MOD_`` kill, ``Hit:`` or ``Flag:`` line).

Sources (public, read for the facts, no code taken): the Urban Terror 4.1, 4.2 and 4.3 log parsers of
BigBrotherBot (``b3/parsers/iourt41.py``, ``iourt42.py``, ``iourt43.py``: their means-of-death and
hit-location constants, the hit-weapon table and the example lines in their comments), and the
Urban Terror 4.1 manual for the game type names. Numbers differ between 4.1 and 4.2+: body parts
count from 0 in 4.1 (7 parts) and from 1 in 4.2 (14 parts); hit weapons above 19 and means of
death above 32 were renumbered. The text of a line (``... in the Helmet``, ``... by UT_MOD_SPAS``)
names the same thing in every version, so it wins over the numbers whenever present.
"""

from __future__ import annotations

__all__ = [
    "URT41",
    "URT42",
    "flag_colour",
    "gametype",
    "hit_weapon",
    "hitloc",
    "is_team_game",
    "mod_by_number",
    "version_of",
    "weapon_for_ut_mod",
]

#: Version families whose numbering differs (4.3 numbers as 4.2 does).
URT41 = "4.1"
URT42 = "4.2"

# g_gametype -> our name. 2 is unused in Urban Terror.
_GAMETYPES = {0: "ffa", 1: "lms", 3: "tdm", 4: "ts", 5: "ftl", 6: "cah", 7: "ctf", 8: "bomb",
              9: "jump", 10: "freeze", 11: "gungame"}
_TEAM_GAMETYPES = frozenset({3, 4, 5, 6, 7, 8, 10})

# Means of death by number, for a Kill line without its "by UT_MOD_X" text (never seen in a real
# log, kept so such a line still counts). Numbers not listed by the sources are left out.
_MOD_COMMON = {1: "MOD_WATER", 3: "MOD_LAVA", 5: "MOD_TELEFRAG", 6: "MOD_FALLING", 7: "MOD_SUICIDE",
               9: "MOD_TRIGGER_HURT", 10: "MOD_CHANGE_TEAM", 12: "UT_MOD_KNIFE", 13: "UT_MOD_KNIFE_THROWN",
               14: "UT_MOD_BERETTA", 15: "UT_MOD_DEAGLE", 16: "UT_MOD_SPAS", 17: "UT_MOD_UMP45",
               18: "UT_MOD_MP5K", 19: "UT_MOD_LR300", 20: "UT_MOD_G36", 21: "UT_MOD_PSG1", 22: "UT_MOD_HK69",
               23: "UT_MOD_BLED", 24: "UT_MOD_KICKED", 25: "UT_MOD_HEGRENADE", 28: "UT_MOD_SR8",
               30: "UT_MOD_AK103", 31: "UT_MOD_SPLODED", 32: "UT_MOD_SLAPPED", 37: "UT_MOD_HK69_HIT",
               38: "UT_MOD_M4"}
_MOD_BY_VERSION = {
    URT41: {**_MOD_COMMON, 33: "UT_MOD_BOMBED", 34: "UT_MOD_NUKED", 35: "UT_MOD_NEGEV", 39: "UT_MOD_FLAG",
            40: "UT_MOD_GOOMBA"},
    URT42: {**_MOD_COMMON, 33: "UT_MOD_SMITED", 34: "UT_MOD_BOMBED", 35: "UT_MOD_NUKED", 36: "UT_MOD_NEGEV",
            39: "UT_MOD_GLOCK", 40: "UT_MOD_COLT1911", 41: "UT_MOD_MAC11", 42: "UT_MOD_FRF1",
            43: "UT_MOD_BENELLI", 44: "UT_MOD_P90", 45: "UT_MOD_MAGNUM", 46: "UT_MOD_TOD50", 47: "UT_MOD_FLAG",
            48: "UT_MOD_GOOMBA"},
}

# UT_MOD_<X> -> weapon where the weapon is not simply x lowercased: a thrown knife is still the
# knife, a grenade that hits directly is still the HK69. The `mod` field keeps the difference.
_WEAPON_ALIASES = {"KNIFE_THROWN": "knife", "HK69_HIT": "hk69"}

# Weapon numbers of Hit lines (not the Kill lines' means of death), as weapon names.
_HIT_COMMON = {1: "knife", 2: "beretta", 3: "deagle", 4: "spas", 5: "mp5k", 6: "ump45", 8: "lr300", 9: "g36",
               10: "psg1", 14: "sr8", 15: "ak103", 17: "negev", 19: "m4"}
_HIT_WEAPONS = {
    URT41: {**_HIT_COMMON, 21: "hegrenade", 22: "knife"},
    URT42: {**_HIT_COMMON, 20: "glock", 21: "colt1911", 22: "mac11", 23: "frf1", 24: "benelli", 25: "p90",
            26: "magnum", 27: "tod50", 28: "kicked", 29: "knife"},
}

# Body parts by number: 4.1 counts from 0, 4.2 from 1 (index 0 unused).
_BODY_PARTS = {
    URT41: ("head", "helmet", "torso", "kevlar", "arms", "legs", "body"),
    URT42: ("", "head", "helmet", "torso", "vest", "left_arm", "right_arm", "groin", "butt",
            "left_upper_leg", "right_upper_leg", "left_lower_leg", "right_lower_leg", "left_foot",
            "right_foot"),
}

_FLAGS = {"team_ctf_redflag": "red", "team_ctf_blueflag": "blue", "red": "red", "blue": "blue"}


def version_of(info: dict[str, str]) -> str | None:
    """The version family (``URT41``/``URT42``) an ``InitGame``/``InitRound`` info string names,
    or None when it does not name Urban Terror.

    ``gamename`` is ``q3urt42``/``q3urt43`` (4.2+) or ``q3urt41``/``q3ut4`` (4.1); ``g_modversion``
    (``4.2.023``) decides when ``gamename`` is absent.
    """
    game = info.get("gamename", "").lower()
    if game.startswith("q3urt4") and game[6:7] in ("2", "3"):
        return URT42
    if game.startswith(("q3ut", "q3urt")):
        return URT41
    modversion = info.get("g_modversion", "")
    if modversion.startswith(("4.2", "4.3")):
        return URT42
    if modversion.startswith("4.1"):
        return URT41
    return None


def gametype(number: int) -> str:
    """``g_gametype`` number -> name (``7`` -> ``"ctf"``, ``4`` -> ``"ts"``); unknown -> ``"gt<n>"``."""
    return _GAMETYPES.get(number, f"gt{number}")


def is_team_game(number: int) -> bool:
    """True for the game types played in red and blue teams."""
    return number in _TEAM_GAMETYPES


def mod_by_number(number: int, version: str | None) -> str | None:
    """A means of death name (``"UT_MOD_LR300"``) for its number, or None if the sources do not list it.
    ``version`` None reads as 4.1."""
    return _MOD_BY_VERSION[version or URT41].get(number)


def weapon_for_ut_mod(name: str) -> str:
    """``"LR300"`` (a ``UT_MOD_`` name without its prefix, any case) -> ``"lr300"``; a thrown knife is
    ``"knife"``, a direct HK69 hit ``"hk69"``."""
    key = name.upper()
    return _WEAPON_ALIASES.get(key, key.lower())


def hit_weapon(number: int, version: str | None) -> str:
    """Weapon name for the weapon number of a Hit line (``8`` -> ``"lr300"``); unknown numbers give
    ``"weapon_<n>"``. ``version`` None reads as 4.1."""
    return _HIT_WEAPONS[version or URT41].get(number, f"weapon_{number}")


def hitloc(text: str | None, number: int, version: str | None) -> str:
    """The body part a Hit line names: its text (``"Helmet"`` -> ``"helmet"``, ``"Left Arm"`` ->
    ``"left_arm"``) when given, else its number in ``version``'s table (None reads as 4.1), else
    ``"part_<n>"``. ``"head"`` and ``"helmet"`` are the ones that count as headshots."""
    if text:
        return "_".join(text.lower().split())
    parts = _BODY_PARTS[version or URT41]
    if 0 <= number < len(parts) and parts[number]:
        return parts[number]
    return f"part_{number}"


def flag_colour(name: str) -> str | None:
    """``"team_CTF_redflag"`` or ``"RED"`` -> ``"red"`` (likewise blue); anything else -> None."""
    return _FLAGS.get(name.strip().lower())
