-- Player identity and display, defined once and used by raw_events' materialized columns.
-- Display name: colour codes stripped (Quake III's Q_IsColorString: '^' followed by an alphanumeric).
CREATE FUNCTION IF NOT EXISTS fragstats_display_name AS (name) ->
    trimBoth(replaceRegexpAll(name, '\\^[0-9A-Za-z]', ''));

-- Identity: the client GUID when it is persistent (OpenMOHAA sends `unauth_<slot>` for players
-- who are not logged in, which is not), else the display name scoped to the server: '<name>@<server_id>'.
CREATE FUNCTION IF NOT EXISTS fragstats_player_id AS (guid, name, server_id) ->
    if(guid != '' AND NOT startsWith(guid, 'unauth_'), guid,
       if(fragstats_display_name(name) = '', '', concat(fragstats_display_name(name), '@', toString(server_id))));

-- Team names as the two naming styles of the tracker collapse them (american = allies, german = axis).
CREATE FUNCTION IF NOT EXISTS fragstats_team AS (team) ->
    multiIf(lower(team) IN ('allies', 'american'), 'allies', lower(team) IN ('axis', 'german'), 'axis', lower(team));
