-- Tournaments. The bracket engine (tournaments/*.py) is pure: it takes the whole state document and
-- returns a new one. `tournaments.state` holds that document (msgspec-encoded `model.Tournament`) and
-- is the single source of truth; `tournament_participants` and `tournament_matches` are normalized
-- copies kept in the same transaction, for queries across tournaments. Every write locks the
-- tournament row (SELECT ... FOR UPDATE), so two organisers reporting at once never lose an update.
CREATE TABLE IF NOT EXISTS tournaments (
    id            serial PRIMARY KEY,
    name          text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    format        text NOT NULL CHECK (format IN ('single_elimination', 'double_elimination',
                                                  'round_robin', 'swiss', 'valve_swiss')),
    settings      jsonb NOT NULL,
    owner_key_id  integer REFERENCES api_keys(id),          -- NULL: created by the admin
    status        text NOT NULL DEFAULT 'setup' CHECK (status IN ('setup', 'running', 'completed')),
    state         jsonb NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS tournaments_owner ON tournaments (owner_key_id);

CREATE TABLE IF NOT EXISTS tournament_participants (
    tournament_id  integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    id             integer NOT NULL,
    name           text NOT NULL,
    seed           integer,
    disqualified   boolean NOT NULL DEFAULT false,
    PRIMARY KEY (tournament_id, id)
);

-- Match ids are per tournament and may be given out again after a correction removed a Swiss round
-- or a playoff, so rows are upserted by (tournament_id, id) and deleted when the match goes away.
CREATE TABLE IF NOT EXISTS tournament_matches (
    tournament_id    integer NOT NULL REFERENCES tournaments(id) ON DELETE CASCADE,
    id               integer NOT NULL,
    bracket          text NOT NULL,
    group_number     integer,
    round            integer NOT NULL,
    number           integer NOT NULL,
    status           text NOT NULL,
    best_of          integer NOT NULL,
    participant1_id  integer,
    participant2_id  integer,
    record           jsonb NOT NULL,                        -- the match as the API shows it
    PRIMARY KEY (tournament_id, id)
);
CREATE INDEX IF NOT EXISTS tournament_matches_p1 ON tournament_matches (participant1_id);
CREATE INDEX IF NOT EXISTS tournament_matches_p2 ON tournament_matches (participant2_id);

-- Append-only: who changed what, when, with the record before and after (NULL: created / removed).
-- No foreign key, so the log outlives a deleted tournament; a trigger refuses UPDATE and DELETE.
CREATE TABLE IF NOT EXISTS tournament_audit (
    seq             bigserial PRIMARY KEY,
    tournament_id   integer NOT NULL,
    at              timestamptz NOT NULL,
    actor           text NOT NULL,
    action          text NOT NULL,
    match_id        integer,
    participant_id  integer,
    before          jsonb,
    after           jsonb
);
CREATE INDEX IF NOT EXISTS tournament_audit_tournament ON tournament_audit (tournament_id, seq);

CREATE OR REPLACE FUNCTION tournament_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tournament_audit is append-only';
END
$$;
DROP TRIGGER IF EXISTS tournament_audit_append_only ON tournament_audit;
CREATE TRIGGER tournament_audit_append_only BEFORE UPDATE OR DELETE ON tournament_audit
    FOR EACH ROW EXECUTE FUNCTION tournament_audit_append_only();
