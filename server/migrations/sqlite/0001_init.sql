-- zhibu server schema. Every key starts with the township id, so a city or province can
-- later shard by township without a redesign. Times are Unix milliseconds (UTC).

CREATE TABLE townships (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    catalog TEXT,
    created_at BIGINT NOT NULL
);

CREATE TABLE villages (
    township_id TEXT NOT NULL REFERENCES townships(id),
    id TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (township_id, id)
);

CREATE TABLE accounts (
    id TEXT PRIMARY KEY,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL,
    township_id TEXT,
    village_id TEXT,
    member_id TEXT,
    display_name TEXT,
    disabled BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);

CREATE TABLE tokens (
    hash TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts(id),
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX tokens_by_account ON tokens(account_id);

-- An Automerge actor belongs to the account that first pushed a change under it.
CREATE TABLE actors (
    actor TEXT PRIMARY KEY,
    account_id TEXT NOT NULL,
    bound_at BIGINT NOT NULL
);
CREATE INDEX actors_by_account ON actors(account_id);

-- One village-year document: a compacted snapshot; the changes not yet in it are in `changes`.
CREATE TABLE documents (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    snapshot BLOB,
    version BIGINT NOT NULL DEFAULT 0,
    heads TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (township_id, village_id, year)
);

-- Append-only: every change ever accepted, with who sent it and when the server first saw it.
CREATE TABLE changes (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    hash TEXT NOT NULL,
    actor TEXT NOT NULL,
    seq BIGINT NOT NULL,
    account_id TEXT NOT NULL,
    peer_id TEXT NOT NULL,
    device_time BIGINT NOT NULL,
    received_at BIGINT NOT NULL,
    message TEXT,
    data BLOB NOT NULL,
    compacted BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (township_id, village_id, year, hash)
);
CREATE INDEX changes_pending ON changes(township_id, village_id, year, compacted);

CREATE TABLE sync_states (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    peer_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    state BLOB NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, peer_id)
);

CREATE TABLE devices (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    peer_id TEXT NOT NULL,
    account_id TEXT NOT NULL,
    last_sync_at BIGINT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, peer_id)
);

-- When the server first saw a meeting or a case step: the basis of late entries (补录).
CREATE TABLE record_seen (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    record_key TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, record_key)
);

-- Projections: rebuilt from the document with every accepted change, for reports in SQL.
CREATE TABLE p_members (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    member_id TEXT NOT NULL,
    name TEXT NOT NULL,
    grp TEXT,
    status TEXT NOT NULL,
    committee BIGINT NOT NULL,
    score BIGINT NOT NULL,
    grade TEXT,
    PRIMARY KEY (township_id, village_id, year, member_id)
);

CREATE TABLE p_meetings (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    meeting_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    held_on TEXT NOT NULL,
    topic TEXT NOT NULL,
    grp TEXT,
    voided BIGINT NOT NULL,
    present BIGINT NOT NULL,
    quorum_due BIGINT,
    quorum_met BIGINT,
    first_seen_at BIGINT NOT NULL,
    late_days BIGINT,
    PRIMARY KEY (township_id, village_id, year, meeting_id)
);

CREATE TABLE p_attendance (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    meeting_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    status TEXT NOT NULL,
    makeup_on TEXT,
    PRIMARY KEY (township_id, village_id, year, meeting_id, member_id)
);

CREATE TABLE p_points (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    entry_id TEXT NOT NULL,
    member_id TEXT NOT NULL,
    rule TEXT NOT NULL,
    delta BIGINT NOT NULL,
    on_date TEXT NOT NULL,
    voided BIGINT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, entry_id)
);

CREATE TABLE p_cases (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    item TEXT NOT NULL,
    title TEXT NOT NULL,
    opened_on TEXT NOT NULL,
    closed_on TEXT,
    voided BIGINT NOT NULL,
    gap_count BIGINT NOT NULL,
    gaps TEXT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, case_id)
);

CREATE TABLE p_case_steps (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    case_id TEXT NOT NULL,
    step TEXT NOT NULL,
    done_on TEXT NOT NULL,
    first_seen_at BIGINT NOT NULL,
    late_days BIGINT,
    PRIMARY KEY (township_id, village_id, year, case_id, step)
);

CREATE TABLE p_compliance (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    kind TEXT NOT NULL,
    grp TEXT NOT NULL,
    period TEXT NOT NULL,
    period_start TEXT NOT NULL,
    period_end TEXT NOT NULL,
    required BIGINT NOT NULL,
    held BIGINT NOT NULL,
    valid BIGINT NOT NULL,
    quorum_failures TEXT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, kind, grp, period)
);
