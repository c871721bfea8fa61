-- A meeting's due members left out of its attendance (未记考勤), and when the server first
-- received a change of its date or attendance after it had the meeting (同步后改动; NULL:
-- never). Only the records can fill `unmarked`: the rows' format moves on with this column
-- (`projections::rows_digest`), so each document's rows are made again when the server starts
-- (`push::catch_up`) and at its next push. Edits stored before this version are seen on the
-- meeting's history page only.
ALTER TABLE p_meetings ADD COLUMN unmarked BIGINT NOT NULL DEFAULT 0;
ALTER TABLE p_meetings ADD COLUMN edited_at BIGINT;
