-- The rules a village-year's records break as stored (记录矛盾): where two phones' offline edits
-- met (one set a member's leaving day, the other their arrival), which the server stores rather
-- than refuse the phone that never saw the other edit, or a rule the township's catalog
-- tightened since. Made, like every projection, from the document at each push; the rows'
-- format moves on with this table (`projections::rows_digest`), so the documents stored before
-- get theirs when the server starts (`push::catch_up`).
CREATE TABLE p_problems (
    township_id TEXT NOT NULL,
    village_id TEXT NOT NULL,
    year BIGINT NOT NULL,
    collection TEXT NOT NULL,
    record_id TEXT NOT NULL,
    field TEXT NOT NULL,
    rule TEXT NOT NULL,
    message TEXT NOT NULL,
    described TEXT NOT NULL,
    PRIMARY KEY (township_id, village_id, year, collection, record_id, field, rule)
) WITHOUT ROWID;
