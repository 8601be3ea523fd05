-- Short codes (identity/codes.py): 8 characters of a 32-letter alphabet (40 bits), stored only as a
-- keyed hash, single use, expiring after FRAGSTATS_CODE_TTL_S.
--
-- RFC 8628 device authorization: the device holds `device_code` (256 bits), the person types
-- `user_code` on the verification page. status: pending -> approved | denied -> used (the token
-- was handed out once).
CREATE TABLE IF NOT EXISTS device_grants (
    id                bigserial PRIMARY KEY,
    device_code_hash  bytea NOT NULL UNIQUE,
    user_code_hash    bytea NOT NULL UNIQUE,
    client            text NOT NULL DEFAULT '',
    status            text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied', 'used')),
    user_id           integer REFERENCES users(id) ON DELETE CASCADE,
    interval_s        integer NOT NULL,
    last_poll_at      timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    expires_at        timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS device_grants_expiry ON device_grants (expires_at);

-- `login <code>` typed in an OpenMOHAA game: a signed-in user makes the code on the web, the game
-- server checks it with POST /api/v1/auth/verify.
CREATE TABLE IF NOT EXISTS login_codes (
    code_hash    bytea PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    used_at      timestamptz,
    used_by      jsonb
);
