-- API tokens with a lifetime, and revocation with its time (SQLite).
-- expires_at_ms: the token is refused from then on (NULL: never; only for rows written by hand).
-- disabled_at_ms: when the user was disabled (its token revoked).
ALTER TABLE users ADD COLUMN expires_at_ms INTEGER;
ALTER TABLE users ADD COLUMN disabled_at_ms INTEGER;
-- Tokens issued before lifetimes existed expire 90 days after this upgrade.
UPDATE users SET expires_at_ms = CAST(strftime('%s', 'now') AS INTEGER) * 1000 + 90 * 86400000;
