-- Identity claims (identity/claims.py): a signed-in user proves a telemetry player id is theirs by
-- typing `!claim CODE` in game chat, or through the game server (POST /api/v1/auth/claim/verify).
CREATE TABLE IF NOT EXISTS claim_codes (
    code_hash    bytea PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    player_id    text
);

-- A player id (GUID, or name@server) has one owner: the primary key.
CREATE TABLE IF NOT EXISTS player_links (
    player_id    text PRIMARY KEY CHECK (length(player_id) BETWEEN 1 AND 200),
    user_id      integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    player_name  text NOT NULL DEFAULT '',
    server_id    integer,
    method       text NOT NULL CHECK (method IN ('chat', 'server', 'login')),
    linked_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS player_links_user ON player_links (user_id, linked_at);

-- Append-only history of links and unlinks (who owned a player id when).
CREATE TABLE IF NOT EXISTS player_link_history (
    seq          bigserial PRIMARY KEY,
    player_id    text NOT NULL,
    user_id      integer NOT NULL,
    action       text NOT NULL CHECK (action IN ('link', 'unlink')),
    method       text NOT NULL,
    player_name  text NOT NULL DEFAULT '',
    at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS player_link_history_user ON player_link_history (user_id, seq);

-- Names a user goes by besides the display name (shown on the player page, searched by resolve).
CREATE TABLE IF NOT EXISTS user_aliases (
    user_id     integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    alias       text NOT NULL CHECK (length(alias) BETWEEN 1 AND 64),
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, alias)
);
