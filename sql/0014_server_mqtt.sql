-- MQTT (ingest/mqtt.py): the broker checks a game server's password (its token) against a mosquitto
-- password file we render. Mosquitto wants PBKDF2-SHA512 ("$7$..."), which cannot be made from the
-- SHA-256 we keep, so it is computed once, when the token is made (fragstats/servers.py), and kept.
ALTER TABLE servers ADD COLUMN IF NOT EXISTS mqtt_password_hash text;
