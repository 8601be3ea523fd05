-- Players (identity/users.py, identity/sessions.py): accounts, the providers they sign in with,
-- sessions (a browser's cookie, or a refresh token of an API client) and short-lived access tokens.
-- Every secret is stored as its SHA-256 only; a session ends by revocation or expiry.
CREATE TABLE IF NOT EXISTS users (
    id            serial PRIMARY KEY,
    display_name  text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 64),
    avatar_url    text CHECK (avatar_url IS NULL OR length(avatar_url) <= 500),
    country       text CHECK (country IS NULL OR country ~ '^[A-Z]{2}$'),
    role          text NOT NULL DEFAULT 'player' CHECK (role IN ('player', 'moderator', 'admin')),
    banned_until  timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per (provider, the provider's subject): `oidc`, `discord`, `steam` (subject: the SteamID64).
CREATE TABLE IF NOT EXISTS user_logins (
    provider      text NOT NULL,
    subject       text NOT NULL,
    user_id       integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    email         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (provider, subject)
);
CREATE INDEX IF NOT EXISTS user_logins_user ON user_logins (user_id);

-- kind 'cookie': a browser's session (the cookie holds the token, signed); 'refresh': an API
-- client's refresh token (rotated on every use: the old row is revoked, a new one made).
CREATE TABLE IF NOT EXISTS user_sessions (
    id            bigserial PRIMARY KEY,
    user_id       integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind          text NOT NULL CHECK (kind IN ('cookie', 'refresh')),
    token_hash    bytea NOT NULL UNIQUE,
    client        text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    revoked_at    timestamptz
);
CREATE INDEX IF NOT EXISTS user_sessions_user ON user_sessions (user_id);

-- Bearer access tokens: minutes long, each belonging to a session (revoking it revokes them).
CREATE TABLE IF NOT EXISTS user_access_tokens (
    token_hash    bytea PRIMARY KEY,
    session_id    bigint NOT NULL REFERENCES user_sessions(id) ON DELETE CASCADE,
    user_id       integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    expires_at    timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS user_access_tokens_expiry ON user_access_tokens (expires_at);
