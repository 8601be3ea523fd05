-- Tournaments II: running an event around the bracket of `0002_tournaments.sql`.
-- Registration, check-in and schedule (`tournament_events`, `tournament_registrations`), player
-- ratings from the telemetry (`player_ratings`, `rated_matches`), results from the game servers
-- (`tournament_match_tokens`, `tournament_match_outcomes`) and webhooks. All times are UTC
-- (timestamptz); `tournament_events.timezone` is the IANA zone the event is shown in.

CREATE TABLE IF NOT EXISTS tournament_events (
    tournament_id      integer PRIMARY KEY REFERENCES tournaments(id) ON DELETE CASCADE,
    kind               text NOT NULL DEFAULT 'player' CHECK (kind IN ('player', 'team')),
    capacity           integer CHECK (capacity IS NULL OR capacity >= 2),
    roster_min         integer NOT NULL DEFAULT 1 CHECK (roster_min >= 1),
    roster_max         integer NOT NULL DEFAULT 1 CHECK (roster_max >= roster_min),
    substitutes        integer NOT NULL DEFAULT 0 CHECK (substitutes >= 0),
    approval           boolean NOT NULL DEFAULT false,
    open_registration  boolean NOT NULL DEFAULT true,
    starts_at          timestamptz,
    timezone           text NOT NULL DEFAULT 'UTC',
    checkin_minutes    integer NOT NULL DEFAULT 0 CHECK (checkin_minutes >= 0),
    checkin_extra_minutes integer NOT NULL DEFAULT 0 CHECK (checkin_extra_minutes >= 0),
    round_minutes      integer CHECK (round_minutes IS NULL OR round_minutes > 0),
    checkin_closed_at  timestamptz,
    seeding            text,
    random_seed        bigint,
    launched_at        timestamptz
);

-- One entrant (a player or a team). `queued_at` orders registration and the waitlist; the id is
-- also the participant id in the bracket once the event is launched. `token_hash`: SHA-256 of the
-- entrant's own token (check-in, withdrawal, result reports by its captain).
CREATE TABLE IF NOT EXISTS tournament_registrations (
    id             serial PRIMARY KEY,
    tournament_id  integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    name           text NOT NULL,
    tag            text,
    seed           integer CHECK (seed IS NULL OR seed >= 1),
    members        jsonb NOT NULL DEFAULT '[]',      -- [{"name", "player_id", "substitute"}]
    status         text NOT NULL CHECK (status IN ('pending', 'registered', 'waitlisted', 'withdrawn',
                                                   'rejected', 'no_show')),
    queued_at      timestamptz NOT NULL,
    checked_in_at  timestamptz,
    token_hash     bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    UNIQUE (tournament_id, name)
);
CREATE INDEX IF NOT EXISTS tournament_registrations_t ON tournament_registrations (tournament_id, status, queued_at);

-- OpenSkill (Plackett-Luce) rating per telemetry player id; `rated_matches` makes rating idempotent.
CREATE TABLE IF NOT EXISTS player_ratings (
    player_id    text PRIMARY KEY,
    player_name  text NOT NULL DEFAULT '',
    mu           double precision NOT NULL,
    sigma        double precision NOT NULL,
    matches      integer NOT NULL DEFAULT 0,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS player_ratings_conservative ON player_ratings ((mu - 3 * sigma) DESC, player_id);

CREATE TABLE IF NOT EXISTS rated_matches (
    server_id  integer NOT NULL,
    match_id   text NOT NULL,
    players    integer NOT NULL,
    rated_at   timestamptz NOT NULL,
    PRIMARY KEY (server_id, match_id)
);

-- A bracket match's token, which a game server sends to link its telemetry match to it.
CREATE TABLE IF NOT EXISTS tournament_match_tokens (
    token_hash     bytea PRIMARY KEY,
    tournament_id  integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    match_id       integer NOT NULL,
    allies_side    smallint NOT NULL DEFAULT 1 CHECK (allies_side IN (1, 2)),
    server_id      integer,
    created_at     timestamptz NOT NULL,
    UNIQUE (tournament_id, match_id)
);

-- How a bracket match's result came about: the claims (telemetry, each captain, organiser), the
-- provenance of the result in the bracket, an open/resolved dispute, and the telemetry evidence.
CREATE TABLE IF NOT EXISTS tournament_match_outcomes (
    tournament_id  integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    match_id       integer NOT NULL,
    provenance     text CHECK (provenance IN ('telemetry', 'reported', 'confirmed', 'organiser')),
    claims         jsonb NOT NULL DEFAULT '{}',
    dispute        text NOT NULL DEFAULT 'none' CHECK (dispute IN ('none', 'open', 'resolved')),
    evidence       jsonb NOT NULL DEFAULT '[]',
    note           text,
    updated_at     timestamptz NOT NULL,
    PRIMARY KEY (tournament_id, match_id)
);

-- Webhooks: every audit entry of the tournament after `last_seq` is POSTed, in order.
CREATE TABLE IF NOT EXISTS tournament_webhooks (
    id             serial PRIMARY KEY,
    tournament_id  integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    url            text NOT NULL,
    secret         text NOT NULL,
    last_seq       bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL
);

CREATE TABLE IF NOT EXISTS tournament_webhook_deliveries (
    id               text PRIMARY KEY,            -- the X-Fragstats-Delivery id, stable across retries
    webhook_id       integer NOT NULL REFERENCES tournament_webhooks(id) ON DELETE CASCADE,
    seq              bigint NOT NULL,
    event            text NOT NULL,
    status           text NOT NULL CHECK (status IN ('delivered', 'failed')),
    attempts         integer NOT NULL,
    response_status  integer,
    error            text,
    at               timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS tournament_webhook_deliveries_w ON tournament_webhook_deliveries (webhook_id, seq);
