-- Secrets of the server's own, made at its first start and shared by every server process on
-- the database: `throttle` keys the login throttle's digests of names and addresses, so that
-- the table does not give them away to whoever can read it (an IPv4 address is found from its
-- plain SHA-256 by trying them all). The counters and known addresses stored before, under
-- plain digests, are dropped: they only held a quarter hour's failures and the addresses
-- accounts logged in from.
CREATE TABLE server_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
DELETE FROM login_throttle;
