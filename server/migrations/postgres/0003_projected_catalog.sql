-- The catalog a document's projection rows were last made with (SHA-256 of the catalog as
-- JSON), set by every push that rewrites them. When it is the catalog in force, the rows are
-- exactly what the stored document's records give, and the next push rewrites only the rows
-- that differ instead of all of them. NULL: not known (rebuild at the next push).
ALTER TABLE documents ADD COLUMN projected_catalog TEXT;
