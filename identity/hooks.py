"""What the identity package does with each committed batch: achievements, and `!claim CODE` typed
in game chat.

The assembly registers `after_commit_factory(convert)` with the ingest pipeline's after-commit hooks
(`fragstats/app.py`); `convert` (`ingest.identity.play_of`) turns ingest's event Structs into
`fragstats.identities.Play`, so this package never imports `ingest`. A batch's hook runs after its
events are stored in ClickHouse: what it finds there is what the backfill will find.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from fragstats.cooperative import mapped
from fragstats.errors import ApiError
from fragstats.identities import Play
from identity.claims import CLAIM_COMMAND, redeem_claim

log = logging.getLogger("fragstats.identity")


async def chat_claims(ident, plays: list[Play]) -> int:
    """Redeem every `!claim CODE` chat line of `plays` for the player who typed it (wrong codes are
    limited per game player, `chat:<server_id>:<player_id>`); the number of player ids linked."""
    linked = 0
    for p in plays:
        if p.type != "chat" or not p.player_id:
            continue
        m = CLAIM_COMMAND.match(p.message)
        if not m:
            continue
        try:
            result = await redeem_claim(ident, m.group(1), p.player_id, p.player_name, p.server_id, "chat",
                                        f"chat:{p.server_id}:{p.player_id}")
        except ApiError as exc:
            log.info("!claim from %s on server %d refused: %s", p.player_id, p.server_id, exc.detail)
            continue
        linked += result.created
        log.info("!claim: player id %s linked to user %d", p.player_id, result.user_id)
    return linked


def after_commit_factory(convert: Callable[[object], Play | None]):
    """The factory the assembly calls with the app: it gives the after-commit hook
    `(notable events, touched matches) -> None`."""

    def factory(app):
        async def players(notable: list, touched: dict) -> None:
            plays = await mapped(convert, notable)  # in slices: a batch holds tens of thousands
            if not plays:
                return
            ident = app.state.identity
            await chat_claims(ident, plays)
            await ident.achievements.apply(plays)

        return players

    return factory
