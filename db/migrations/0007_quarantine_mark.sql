-- 0007_quarantine_mark: a quarantined device still reports, and its reports
-- are marked so that the operator API (GET /v1/incidents?quarantined=...)
-- and vigilctl (incidents --quarantined ...) can tell them apart. vigild sets
-- the mark from its in-memory registry view when it stores the report; the
-- mark says what the device's status was then, and is never changed later.
--
-- A constant default adds the column without rewriting a partition.
ALTER TABLE incidents ADD COLUMN quarantined boolean NOT NULL DEFAULT false;
