-- 0003_incident_counts: hourly incident counts, so fleet-wide statistics
-- over a day read a few hundred rows instead of every incident of the day.
--
-- vigild folds new incidents into the counts every few seconds
-- (vigil_count_incidents); a statistics query reads the counts for whole
-- hours that are folded and the raw incidents for the rest of its range.

CREATE TABLE incident_counts (
    hour             timestamptz NOT NULL,   -- date_bin('1 hour', received_at, 'epoch')
    type             text NOT NULL,
    severity         text NOT NULL,
    firmware_version text,
    source           text NOT NULL,
    n                bigint NOT NULL
);
CREATE UNIQUE INDEX incident_counts_key ON incident_counts
    (hour, type, severity, firmware_version, source) NULLS NOT DISTINCT;

-- Incidents received before `upto` are counted.
CREATE TABLE incident_counts_state (
    one  boolean PRIMARY KEY DEFAULT true CHECK (one),
    upto timestamptz NOT NULL
);
INSERT INTO incident_counts_state (upto) VALUES ('-infinity');

-- Folds the incidents received in [upto, horizon) into the counts and
-- returns the new upto. The horizon is now(), or the start of the oldest
-- other client transaction if that is earlier: an incident is stamped with
-- its transaction's start (received_at DEFAULT now()), so nothing received
-- before that start can still commit. Concurrent callers (several vigild)
-- serialize on the state row. (pg_stat_activity shows the transactions of
-- the caller's own role, or of every role to members of pg_read_all_stats:
-- every vigild connection writing incidents uses the one database role.)
CREATE FUNCTION vigil_count_incidents() RETURNS timestamptz
LANGUAGE plpgsql AS $$
DECLARE
    from_ts timestamptz;
    to_ts timestamptz;
BEGIN
    SELECT upto INTO from_ts FROM incident_counts_state FOR UPDATE;
    SELECT least(now(), min(xact_start)) INTO to_ts FROM pg_stat_activity
        WHERE xact_start IS NOT NULL AND pid <> pg_backend_pid()
          AND backend_type = 'client backend';
    IF from_ts = '-infinity' THEN
        SELECT coalesce(min(received_at), to_ts) INTO from_ts FROM incidents
            WHERE received_at < to_ts;
    END IF;
    IF to_ts <= from_ts THEN
        RETURN from_ts;
    END IF;
    INSERT INTO incident_counts AS c (hour, type, severity, firmware_version, source, n)
        SELECT date_bin('1 hour', received_at, 'epoch'::timestamptz), type, severity,
               firmware_version, source, count(*)
        FROM incidents WHERE received_at >= from_ts AND received_at < to_ts
        GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (hour, type, severity, firmware_version, source)
        DO UPDATE SET n = c.n + excluded.n;
    UPDATE incident_counts_state SET upto = to_ts;
    RETURN to_ts;
END $$;
