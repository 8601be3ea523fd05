-- Achievements (identity/achievements.py): definitions are data; progress and unlocks are computed
-- from committed events, per telemetry player id (a user's are those of its linked ids).
--
-- rule (jsonb), one of:
--   {"counter": "kills"|"headshots"|"distance"|"wins", "at_least": n}   lifetime totals
--   {"counter": "weapon_kills", "weapon": "<weapon>", "at_least": n}     kills with one weapon
--   {"streak": n}                        n kills in a match without dying in between
--   {"multi_kill": n, "window_s": s}     n kills within s seconds of game clock, in a match
--   {"untouchable": n}                   a whole match (not a partial one) with >= n kills, 0 deaths
-- A kill is a kill of another, non-team player (`kill_kind = 'kill'`); a death is any death.
CREATE TABLE IF NOT EXISTS achievements (
    code         text PRIMARY KEY CHECK (code ~ '^[a-z0-9_]{1,40}$'),
    name         text NOT NULL,
    description  text NOT NULL,
    category     text NOT NULL CHECK (category IN ('kills', 'headshots', 'weapons', 'streaks', 'movement', 'matches')),
    tier         text NOT NULL CHECK (tier IN ('bronze', 'silver', 'gold', 'platinum')),
    rule         jsonb NOT NULL,
    points       integer NOT NULL CHECK (points BETWEEN 0 AND 1000),
    secret       boolean NOT NULL DEFAULT false,
    position     integer NOT NULL DEFAULT 0
);

INSERT INTO achievements (code, name, description, category, tier, rule, points, secret, position) VALUES
 ('first_blood',    'First Blood',     'Kill another player.',                                   'kills',     'bronze',   '{"counter": "kills", "at_least": 1}', 5, false, 10),
 ('kills_10',       'Getting Started', 'Kill 10 players.',                                       'kills',     'bronze',   '{"counter": "kills", "at_least": 10}', 10, false, 11),
 ('kills_100',      'Centurion',       'Kill 100 players.',                                      'kills',     'silver',   '{"counter": "kills", "at_least": 100}', 25, false, 12),
 ('kills_1000',     'Veteran',         'Kill 1,000 players.',                                    'kills',     'gold',     '{"counter": "kills", "at_least": 1000}', 50, false, 13),
 ('headshot_1',     'Right Between the Eyes', 'Kill with a headshot.',                           'headshots', 'bronze',   '{"counter": "headshots", "at_least": 1}', 5, false, 20),
 ('headshots_50',   'Marksman',        'Kill 50 players with headshots.',                        'headshots', 'silver',   '{"counter": "headshots", "at_least": 50}', 25, false, 21),
 ('headshots_500',  'Sharpshooter',    'Kill 500 players with headshots.',                       'headshots', 'gold',     '{"counter": "headshots", "at_least": 500}', 50, false, 22),
 ('railgun_25',     'Rail Master',     'Kill 25 players with the railgun.',                      'weapons',   'silver',   '{"counter": "weapon_kills", "weapon": "railgun", "at_least": 25}', 20, false, 30),
 ('rocket_50',      'Rocket Scientist','Kill 50 players with the rocket launcher.',              'weapons',   'silver',   '{"counter": "weapon_kills", "weapon": "rocket_launcher", "at_least": 50}', 20, false, 31),
 ('thompson_100',   'Tommy Gunner',    'Kill 100 players with the Thompson.',                    'weapons',   'silver',   '{"counter": "weapon_kills", "weapon": "Thompson", "at_least": 100}', 20, false, 32),
 ('kar98_sniper_50','Eagle Eye',       'Kill 50 players with the KAR98 sniper rifle.',          'weapons',   'silver',   '{"counter": "weapon_kills", "weapon": "KAR98 - Sniper", "at_least": 50}', 20, false, 33),
 ('streak_5',       'Killing Spree',   'Kill 5 players in a match without dying.',               'streaks',   'bronze',   '{"streak": 5}', 10, false, 40),
 ('streak_10',      'Rampage',         'Kill 10 players in a match without dying.',              'streaks',   'silver',   '{"streak": 10}', 25, false, 41),
 ('streak_20',      'Unstoppable',     'Kill 20 players in a match without dying.',              'streaks',   'gold',     '{"streak": 20}', 50, false, 42),
 ('double_kill',    'Double Kill',     'Kill 2 players within 4 seconds.',                       'streaks',   'bronze',   '{"multi_kill": 2, "window_s": 4}', 5, false, 43),
 ('triple_kill',    'Triple Kill',     'Kill 3 players within 4 seconds.',                       'streaks',   'silver',   '{"multi_kill": 3, "window_s": 4}', 15, false, 44),
 ('quad_kill',      'Quad Kill',       'Kill 4 players within 4 seconds.',                       'streaks',   'gold',     '{"multi_kill": 4, "window_s": 4}', 40, false, 45),
 ('distance_10k',   'Stretching Legs', 'Travel 10,000 game units.',                              'movement',  'bronze',   '{"counter": "distance", "at_least": 10000}', 5, false, 50),
 ('distance_1m',    'Marathon',        'Travel 1,000,000 game units.',                           'movement',  'gold',     '{"counter": "distance", "at_least": 1000000}', 40, false, 51),
 ('win_1',          'Victor',          'Win a match.',                                           'matches',   'bronze',   '{"counter": "wins", "at_least": 1}', 10, false, 60),
 ('wins_10',        'Champion',        'Win 10 matches.',                                        'matches',   'silver',   '{"counter": "wins", "at_least": 10}', 25, false, 61),
 ('untouchable',    'Untouchable',     'Finish a match with at least 10 kills and no death.',    'matches',   'platinum', '{"untouchable": 10}', 100, true, 62)
ON CONFLICT (code) DO NOTHING;

-- Lifetime progress per player id: kills, headshots, weapon_kills:<weapon>, distance, wins, and
-- the bests of match-scoped rules (best_streak, best_multi_kill, untouchable_matches).
CREATE TABLE IF NOT EXISTS achievement_counters (
    player_id   text NOT NULL,
    counter     text NOT NULL,
    value       double precision NOT NULL,
    PRIMARY KEY (player_id, counter)
);

-- Each achievement unlocks once per player id, with the time and the event that earned it.
CREATE TABLE IF NOT EXISTS achievement_unlocks (
    code         text NOT NULL REFERENCES achievements(code) ON DELETE CASCADE,
    player_id    text NOT NULL,
    player_name  text NOT NULL DEFAULT '',
    unlocked_at  timestamptz NOT NULL,
    event        jsonb NOT NULL,
    PRIMARY KEY (code, player_id)
);
CREATE INDEX IF NOT EXISTS achievement_unlocks_recent ON achievement_unlocks (unlocked_at DESC);
CREATE INDEX IF NOT EXISTS achievement_unlocks_player ON achievement_unlocks (player_id);

-- In-match state of the match-scoped rules (streaks, kill windows, kills/deaths, teams) of
-- matches not yet ended; removed at match_end (and after a day without events).
CREATE TABLE IF NOT EXISTS achievement_matches (
    server_id   integer NOT NULL,
    match_id    text NOT NULL,
    state       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, match_id)
);

-- Each backfill's watermark: the latest receipt time it counted. Live folding skips events received
-- at or before the newest one (the backfill counted them).
CREATE TABLE IF NOT EXISTS achievement_backfills (
    id           serial PRIMARY KEY,
    watermark    timestamptz NOT NULL,
    finished_at  timestamptz NOT NULL DEFAULT now()
);
