"""Achievements as data, and the pure fold that turns committed events into progress and unlocks.

Definitions (`achievements` table, `sql/0013_achievements.sql`) carry a `rule`; this module reads
the rules and folds events (`fragstats.identities.Play`) into a `State`: lifetime counters per player
id, the in-match state of each open match, and what is unlocked. `fold(rules, state, plays)`
changes `state` and returns the new unlocks (each achievement once per player id, with the time and
the event that earned it). The store (`identity.achievement_store`) loads the part of the state a
batch touches, folds, and writes the result: the same fold serves the live hook and the backfill.

Rules (a kill is `kill_kind == "kill"`; any `player_kill` of a victim is a death):
- counters `kills`, `headshots` (a kill with hitloc head/helmet), `weapon_kills:<weapon>`, `distance`
  (sum of `distance` events' `distance`, game units), `wins`;
- `streak`: kills in a match without dying in between (a death resets it; a new match starts at 0);
- `multi_kill`: n kills within `window_s` seconds of game clock in one match;
- `untouchable`: a whole match (`match_end` not `partial`) with at least n kills and no death;
- a win: at `match_end` (not partial), a player whose team (as last seen in the match) is the
  `winning_team`; with no winning team, the one player with the most kills (> 0), if unique.
Progress counters also keep the bests of match rules: `best_streak`, `best_multi_kill`,
`untouchable_matches`.

Order: within a batch, and in the backfill, events are taken in `sort_key` order: receipt time
first (the order requests arrived), then game clock, then a fixed order of type and ids. The
order a request listed events of the same game-clock instant is not kept in ClickHouse, so it is not
used here either: the live hook and the backfill see one order and agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from fragstats.identities import Play, team

HEADSHOT_HITLOCS = frozenset({"head", "helmet"})
_TYPE_RANK = {"match_start": 0, "player_kill": 1, "distance": 2, "chat": 3, "match_end": 4}
COUNTERS = ("kills", "headshots", "distance", "wins")


@dataclass(frozen=True)
class Rule:
    """One definition's rule, parsed: `kind` is `counter`, `streak`, `multi_kill` or `untouchable`;
    `counter` the counter a `counter` rule reads; `target` the number to reach."""

    code: str
    kind: str
    target: float
    counter: str = ""
    window_s: float = 0.0

    @property
    def progress_counter(self) -> str:
        """The counter that shows progress towards this rule."""
        return {"counter": self.counter, "streak": "best_streak", "multi_kill": "best_multi_kill",
                "untouchable": "untouchable_matches"}[self.kind]

    @property
    def progress_target(self) -> float:
        return 1 if self.kind == "untouchable" else self.target


def parse_rule(code: str, rule: dict) -> Rule:
    """A definition's JSON rule as a `Rule`; raises ValueError for a rule this module cannot run."""
    if "counter" in rule:
        counter = rule["counter"]
        if counter == "weapon_kills":
            counter = f"weapon_kills:{rule['weapon']}"
        elif counter not in COUNTERS:
            raise ValueError(f"achievement {code}: unknown counter {counter!r}")
        return Rule(code, "counter", float(rule["at_least"]), counter)
    if "streak" in rule:
        return Rule(code, "streak", float(rule["streak"]))
    if "multi_kill" in rule:
        return Rule(code, "multi_kill", float(rule["multi_kill"]), window_s=float(rule.get("window_s", 4)))
    if "untouchable" in rule:
        return Rule(code, "untouchable", float(rule["untouchable"]))
    raise ValueError(f"achievement {code}: unknown rule {rule!r}")


@dataclass(frozen=True)
class Unlock:
    code: str
    player_id: str
    player_name: str
    unlocked_at: float  # epoch s: the earning event's occurred_at
    event: dict


@dataclass
class State:
    """What the fold reads and changes. `counters[(player_id, counter)]`; `matches[(server_id,
    match_id)]` = `{player_id: {"kills", "deaths", "streak", "recent": [game clock s], "team", "name"}}`;
    `unlocked`: (code, player_id) pairs; `ended`: matches that ended (their state is dropped)."""

    counters: dict[tuple[str, str], float] = field(default_factory=dict)
    matches: dict[tuple[int, str], dict] = field(default_factory=dict)
    unlocked: set[tuple[str, str]] = field(default_factory=set)
    ended: set[tuple[int, str]] = field(default_factory=set)
    changed: set[tuple[str, str]] = field(default_factory=set)


def sort_key(p: Play) -> tuple:
    """The one order of events (see the module docstring); times in whole ms."""
    return (round(p.received_at * 1000), p.server_id, p.match_id, p.timestamp, round(p.occurred_at * 1000),
            _TYPE_RANK.get(p.type, 9), p.attacker_id, p.victim_id, p.player_id, p.weapon, p.hitloc)


def players_of(plays: list[Play]) -> set[str]:
    """Player ids whose counters or unlocks a fold of `plays` may touch."""
    return {pid for p in plays for pid in (p.attacker_id, p.player_id) if pid}


class Folder:
    """`fold` with its rules indexed once."""

    def __init__(self, rules: list[Rule]):
        self.rules = rules
        self.by_counter: dict[str, list[Rule]] = {}
        for r in rules:
            if r.kind == "counter":
                self.by_counter.setdefault(r.counter, []).append(r)
        self.streaks = [r for r in rules if r.kind == "streak"]
        self.multis = [r for r in rules if r.kind == "multi_kill"]
        self.untouchables = [r for r in rules if r.kind == "untouchable"]
        self.window_s = max((r.window_s for r in self.multis), default=0.0)

    def fold(self, state: State, plays: list[Play]) -> list[Unlock]:
        """Fold `plays` (already in `sort_key` order) into `state`; the unlocks they earn."""
        out: list[Unlock] = []
        for p in plays:
            handler = getattr(self, f"_on_{p.type}", None)
            if handler is not None:
                handler(state, p, out)
        return out

    # ---- helpers ----------------------------------------------------------------------------

    def _unlock(self, state: State, rule: Rule, pid: str, name: str, p: Play, out: list[Unlock]) -> None:
        if (rule.code, pid) in state.unlocked:
            return
        state.unlocked.add((rule.code, pid))
        out.append(Unlock(rule.code, pid, name, p.occurred_at, p.ref()))

    def _add(self, state: State, pid: str, counter: str, amount: float, name: str, p: Play, out: list[Unlock]) -> None:
        key = (pid, counter)
        counters = state.counters
        value = counters[key] = counters.get(key, 0.0) + amount
        state.changed.add(key)
        rules = self.by_counter.get(counter)
        if rules:
            for rule in rules:
                if value >= rule.target and (rule.code, pid) not in state.unlocked:
                    self._unlock(state, rule, pid, name, p, out)

    def _best(self, state: State, pid: str, counter: str, value: float) -> None:
        key = (pid, counter)
        if value > state.counters.get(key, 0.0):
            state.counters[key] = value
            state.changed.add(key)

    @staticmethod
    def _player(state: State, p: Play, pid: str) -> dict:
        key = (p.server_id, p.match_id)
        match = state.matches.get(key)
        if match is None:
            match = state.matches[key] = {}
        me = match.get(pid)
        if me is None:
            me = match[pid] = {"kills": 0, "deaths": 0, "streak": 0, "recent": [], "team": "", "name": ""}
        return me

    # ---- events -----------------------------------------------------------------------------

    def _on_match_start(self, state: State, p: Play, out: list[Unlock]) -> None:
        state.matches[(p.server_id, p.match_id)] = {}
        state.ended.discard((p.server_id, p.match_id))

    def _on_player_kill(self, state: State, p: Play, out: list[Unlock]) -> None:
        if p.victim_id:
            victim = self._player(state, p, p.victim_id)
            victim["deaths"] += 1
            victim["streak"] = 0
            victim["recent"] = []
            if p.victim_team:
                victim["team"] = team(p.victim_team)
        if p.kill_kind != "kill" or not p.attacker_id:
            return
        pid, name = p.attacker_id, p.attacker_name
        me = self._player(state, p, pid)
        me["kills"] += 1
        me["streak"] += 1
        me["name"] = name
        if p.attacker_team:
            me["team"] = team(p.attacker_team)
        self._add(state, pid, "kills", 1, name, p, out)
        if p.hitloc.lower() in HEADSHOT_HITLOCS:
            self._add(state, pid, "headshots", 1, name, p, out)
        if p.weapon:
            self._add(state, pid, f"weapon_kills:{p.weapon}", 1, name, p, out)
        streak = me["streak"]
        self._best(state, pid, "best_streak", streak)
        for rule in self.streaks:
            if streak >= rule.target and (rule.code, pid) not in state.unlocked:
                self._unlock(state, rule, pid, name, p, out)
        if self.window_s:
            now = p.timestamp
            recent = me["recent"] = [t for t in me["recent"] if now - t <= self.window_s] + [now]
            best = 0
            for rule in self.multis:
                within = len(recent) if rule.window_s >= self.window_s else sum(1 for t in recent if now - t <= rule.window_s)
                best = max(best, within)
                if within >= rule.target and (rule.code, pid) not in state.unlocked:
                    self._unlock(state, rule, pid, name, p, out)
            self._best(state, pid, "best_multi_kill", best)

    def _on_distance(self, state: State, p: Play, out: list[Unlock]) -> None:
        if p.player_id and p.distance > 0:
            self._add(state, p.player_id, "distance", p.distance, p.player_name, p, out)

    def _on_match_end(self, state: State, p: Play, out: list[Unlock]) -> None:
        key = (p.server_id, p.match_id)
        players = state.matches.pop(key, {})
        state.ended.add(key)
        if p.partial or not players:
            return
        winning = team(p.winning_team)
        if winning:
            winners = [pid for pid, me in players.items() if me["team"] == winning]
        else:
            top = max(me["kills"] for me in players.values())
            leaders = [pid for pid, me in players.items() if me["kills"] == top]
            winners = leaders if top > 0 and len(leaders) == 1 else []
        for pid in sorted(winners):
            self._add(state, pid, "wins", 1, players[pid]["name"], p, out)
        least = min((r.target for r in self.untouchables), default=None)
        for pid, me in sorted(players.items()):
            if least is None or me["deaths"] or me["kills"] < least:
                continue
            self._add(state, pid, "untouchable_matches", 1, me["name"], p, out)
            for rule in self.untouchables:
                if me["kills"] >= rule.target:
                    self._unlock(state, rule, pid, me["name"], p, out)
