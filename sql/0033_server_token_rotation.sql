-- A game server's token can be replaced (POST /api/v1/servers/{id}/token, fragstats/servers.py): the
-- server keeps its id and its data, the old token stops at once. When it last happened is kept so an
-- admin can see it in GET /api/v1/servers (NULL: the token is the one made with the server).
ALTER TABLE servers ADD COLUMN IF NOT EXISTS token_rotated_at timestamptz;
