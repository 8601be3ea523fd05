-- Tournaments III: one entrant model. Every entrant -- signed up through `/registrations` or added by
-- the organiser through `/participants` -- is a row of `tournament_registrations`; at the start the
-- registered ones enter the bracket with their id as participant id. Ids are per tournament (1, 2, ...
-- in order of entry, never given out twice: `tournaments.last_entrant_id`), as bracket participant ids
-- always were.
ALTER TABLE tournaments ADD COLUMN IF NOT EXISTS last_entrant_id integer NOT NULL DEFAULT 0;
ALTER TABLE tournament_registrations DROP CONSTRAINT IF EXISTS tournament_registrations_pkey;
ALTER TABLE tournament_registrations ADD PRIMARY KEY (tournament_id, id);
ALTER TABLE tournament_registrations ALTER COLUMN id DROP DEFAULT;

-- Participants that organisers added to tournaments not started yet lived only in the state document;
-- they become entrants with a place. An id or name already held by a registration of the same
-- tournament is moved out of the way (id after every other, name suffixed with `#id`).
WITH legacy AS (
    SELECT t.id AS tid, (p ->> 'id')::int AS pid, p ->> 'name' AS name, (p ->> 'seed')::int AS seed, t.created_at
    FROM tournaments t CROSS JOIN LATERAL jsonb_array_elements(t.state -> 'participants') AS p
    WHERE jsonb_array_length(t.state -> 'matches') = 0
), placed AS (
    SELECT l.*,
           CASE WHEN EXISTS (SELECT 1 FROM tournament_registrations r WHERE r.tournament_id = l.tid AND r.id = l.pid)
                THEN l.pid + (SELECT max(r.id) FROM tournament_registrations r WHERE r.tournament_id = l.tid)
                ELSE l.pid END AS new_id
    FROM legacy l
)
INSERT INTO tournament_registrations (tournament_id, id, name, tag, seed, members, status, queued_at, token_hash,
                                      created_at)
SELECT tid, new_id,
       CASE WHEN EXISTS (SELECT 1 FROM tournament_registrations r WHERE r.tournament_id = tid AND r.name = placed.name)
            THEN left(placed.name, 190) || ' #' || new_id ELSE placed.name END,
       NULL, seed, jsonb_build_array(jsonb_build_object('name', placed.name, 'player_id', NULL, 'substitute', false)),
       'registered', created_at + new_id * interval '1 microsecond',
       sha256(convert_to(gen_random_uuid()::text, 'UTF8')), created_at
FROM placed;
UPDATE tournaments SET state = jsonb_set(state, '{participants}', '[]')
WHERE jsonb_array_length(state -> 'matches') = 0 AND jsonb_array_length(state -> 'participants') > 0;
DELETE FROM tournament_participants p USING tournaments t
WHERE p.tournament_id = t.id AND jsonb_array_length(t.state -> 'matches') = 0;
UPDATE tournaments t SET last_entrant_id = greatest(
    (SELECT coalesce(max(id), 0) FROM tournament_registrations r WHERE r.tournament_id = t.id),
    (SELECT coalesce(max((p ->> 'id')::int), 0) FROM jsonb_array_elements(t.state -> 'participants') AS p));
