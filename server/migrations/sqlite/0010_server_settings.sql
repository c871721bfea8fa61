-- Settings a server process records for the others on the database and for `zhibu-server
-- admin`: `default_catalog` is the catalog (JSON) the last server started with (`--catalog` or
-- the built-in default), the one townships without their own use; an admin command given no
-- `--catalog` makes the figures with it, as the running server would.
CREATE TABLE server_settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
