-- 0004_incident_group_column: the group fingerprint becomes a plain column
-- that the writer fills, instead of a stored generated column.
--
-- A generated column's expression is planned again every time an INSERT
-- starts (inlining both SQL functions means parsing their bodies): a profile
-- of single-report ingest, 15 reports per group commit, put a fifth of
-- PostgreSQL's time there. vigild's ingest statement now computes
-- vigil_incident_group() itself, planned once per connection; any other
-- writer that leaves the column out gets the same value from the trigger, so
-- the column still always equals vigil_incident_group(type, component,
-- details). Incidents are never updated, so only INSERT needs it. Each
-- statement here changes the catalog only: none scans or rewrites incidents.

ALTER TABLE incidents ALTER COLUMN fingerprint DROP EXPRESSION;

CREATE FUNCTION vigil_incident_fill_group() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.fingerprint := vigil_incident_group(NEW.type, NEW.component, NEW.details);
    RETURN NEW;
END
$$;

CREATE TRIGGER incidents_fill_group BEFORE INSERT ON incidents
    FOR EACH ROW WHEN (NEW.fingerprint IS NULL) EXECUTE FUNCTION vigil_incident_fill_group();

-- Never NULL from here on. NOT VALID: checking the rows already there (all
-- written by the generated column, so none is NULL) would hold the table's
-- exclusive lock, and stop ingest, for a scan of every incident.
ALTER TABLE incidents ADD CONSTRAINT incidents_fingerprint_set
    CHECK (fingerprint IS NOT NULL) NOT VALID;
