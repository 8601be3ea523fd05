-- Tournaments III: registration is closed unless the organiser opens it (`POST .../registration/open`),
-- optionally for a window [registration_opens_at, registration_closes_at). Events configured before
-- keep what they had; new ones start closed.
ALTER TABLE tournament_events ALTER COLUMN open_registration SET DEFAULT false;
ALTER TABLE tournament_events ADD COLUMN IF NOT EXISTS registration_opens_at timestamptz;
ALTER TABLE tournament_events ADD COLUMN IF NOT EXISTS registration_closes_at timestamptz;
