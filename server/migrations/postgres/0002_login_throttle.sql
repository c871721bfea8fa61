-- Login throttling: failed logins counted per account name and per client address, in the
-- database so that every server instance sharing it enforces the same limits. `subject` is
-- the SHA-256 (hex) of the scope and the name or address, never the name or address itself.
-- One row per subject: `attempts` counted since `window_start` (Unix milliseconds, UTC).

CREATE TABLE login_throttle (
    scope TEXT NOT NULL,
    subject TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    attempts BIGINT NOT NULL,
    PRIMARY KEY (scope, subject)
);
CREATE INDEX login_throttle_by_window ON login_throttle(window_start);
