-- 0001_init: the device registry, incidents and the audit log.
--
-- Devices and the certificates the CA issued to them are the registry that
-- authentication decisions come from. Incidents are partitioned by receipt
-- time for retention; incident_keys makes a report unique per device and
-- report id across all partitions, so a retried report is stored once.

CREATE TABLE devices (
    id              text PRIMARY KEY
                    CHECK (id ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    device_class    text NOT NULL DEFAULT 'default'
                    CHECK (device_class ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    status          text NOT NULL DEFAULT 'active'
                    CHECK (status IN ('active', 'quarantined', 'decommissioned')),
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    last_seen_at    timestamptz,
    last_address    inet,
    firmware_version text
);
CREATE INDEX devices_status_class ON devices (status, device_class);

CREATE TABLE certificates (
    serial          text PRIMARY KEY CHECK (serial ~ '^[0-9A-F]{1,40}$'),
    device_id       text NOT NULL REFERENCES devices (id),
    issuer          text NOT NULL,          -- issuing CA subject key identifier, hex
    fingerprint_sha256 text NOT NULL UNIQUE CHECK (fingerprint_sha256 ~ '^[0-9a-f]{64}$'),
    not_before      timestamptz NOT NULL,
    not_after       timestamptz NOT NULL,
    status          text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'revoked')),
    revoked_at      timestamptz,
    revocation_reason text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    pem             text NOT NULL,
    CHECK (not_after > not_before),
    CHECK ((status = 'revoked') = (revoked_at IS NOT NULL))
);
CREATE INDEX certificates_device ON certificates (device_id, not_after DESC);
CREATE INDEX certificates_revoked ON certificates (issuer, not_after) WHERE status = 'revoked';

-- Incidents: one row per report. Partitioned by receipt time (server clock,
-- unlike occurred_at which comes from the device); the default partition
-- catches anything outside the created ranges so an insert never fails.
CREATE SEQUENCE incidents_seq;
CREATE TABLE incidents (
    seq             bigint NOT NULL DEFAULT nextval('incidents_seq'),
    received_at     timestamptz NOT NULL DEFAULT now(),
    id              uuid NOT NULL,
    device_id       text,                   -- NULL for server events without an identity
    source          text NOT NULL CHECK (source IN ('device', 'server')),
    type            text NOT NULL,
    severity        text NOT NULL CHECK (severity IN ('info', 'warning', 'error', 'critical')),
    occurred_at     timestamptz NOT NULL,
    firmware_version text,
    component       text,
    details         jsonb NOT NULL DEFAULT '{}',
    source_address  inet,
    PRIMARY KEY (received_at, seq)
) PARTITION BY RANGE (received_at);
CREATE INDEX incidents_device ON incidents (device_id, received_at DESC);
CREATE TABLE incidents_default PARTITION OF incidents DEFAULT;

CREATE TABLE incident_keys (
    device_id       text NOT NULL,
    report_id       uuid NOT NULL,
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (device_id, report_id)
);

-- Creates the monthly partitions from this month to `months_ahead` months
-- ahead; vigild calls it periodically, migrations once.
CREATE FUNCTION vigil_ensure_incident_partitions(months_ahead int) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    m date := date_trunc('month', now() AT TIME ZONE 'UTC')::date;
    name text;
BEGIN
    FOR i IN 0 .. months_ahead LOOP
        name := format('incidents_%s', to_char(m, 'YYYYMM'));
        IF to_regclass(name) IS NULL THEN
            EXECUTE format('CREATE TABLE %I PARTITION OF incidents FOR VALUES FROM (%L) TO (%L)',
                           name, m::timestamp AT TIME ZONE 'UTC',
                           (m + interval '1 month')::timestamp AT TIME ZONE 'UTC');
        END IF;
        m := (m + interval '1 month')::date;
    END LOOP;
END $$;
SELECT vigil_ensure_incident_partitions(2);

-- The audit log is append-only: rows can be added, never changed.
CREATE TABLE audit_log (
    id              bigserial PRIMARY KEY,
    at              timestamptz NOT NULL DEFAULT now(),
    actor_kind      text NOT NULL CHECK (actor_kind IN ('os', 'token', 'server')),
    actor           text NOT NULL,
    action          text NOT NULL,
    device_id       text,
    serial          text,
    details         jsonb
);
CREATE INDEX audit_log_at ON audit_log (at);

CREATE FUNCTION vigil_audit_log_immutable() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END $$;
CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION vigil_audit_log_immutable();
