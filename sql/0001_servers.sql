-- Game servers allowed to send events. The token is shown once at creation and stored only as
-- its SHA-256 (tokens are 256 random bits, so a fast hash is enough and keeps lookups O(1)).
CREATE TABLE IF NOT EXISTS servers (
    id          serial PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    url         text,
    token_hash  bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- API keys for organisers and other non-admin writers (scopes such as 'tournaments').
CREATE TABLE IF NOT EXISTS api_keys (
    id          serial PRIMARY KEY,
    name        text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    scopes      text[] NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
