-- Which changes a document's snapshot holds is told by versions instead of a flag on each
-- change: a change keeps the document version that stored it, and the document the version its
-- snapshot was made at. The changes after the snapshot are those of later versions. A
-- snapshot used to rewrite the flag on every change it folded in (128 or more rows and their
-- index entries); now it writes the document's row alone, and the change log is only ever
-- appended to.
ALTER TABLE documents ADD COLUMN snapshot_version BIGINT NOT NULL DEFAULT 0;
ALTER TABLE changes ADD COLUMN version BIGINT NOT NULL DEFAULT 0;

-- The changes not yet in a snapshot: the document's current version (every later change gets
-- a later one); those in it keep 0, which no snapshot version is below.
UPDATE changes SET version = coalesce((
    SELECT d.version FROM documents d
    WHERE d.township_id = changes.township_id AND d.village_id = changes.village_id AND d.year = changes.year
), 1)
WHERE compacted = 0;

DROP INDEX changes_pending;
ALTER TABLE changes DROP COLUMN compacted;
CREATE INDEX changes_pending ON changes(township_id, village_id, year, version);
