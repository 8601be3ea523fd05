-- Tournaments III: an audit entry says whether it was forced: a correction that reset matches already
-- running or completed (`"force": true`), or an organiser's reset of a match. Existing entries were not.
ALTER TABLE tournament_audit ADD COLUMN IF NOT EXISTS forced boolean NOT NULL DEFAULT false;
