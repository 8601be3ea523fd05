-- A signed-in user may create their own upload keys (POST /api/v1/users/me/keys): the key records
-- whose it is, so its owner can list and revoke it; admin-made keys have no owner.
ALTER TABLE api_keys ADD COLUMN IF NOT EXISTS user_id integer REFERENCES users(id);
CREATE INDEX IF NOT EXISTS api_keys_user ON api_keys (user_id) WHERE user_id IS NOT NULL;
