-- 0002_operator_api: API tokens, incident groups, and the indexes behind the
-- operator API's queries.
--
-- A token is shown once when it is made; only its SHA-256 is kept, so a copy
-- of the database gives nobody a working token. Tokens are random 256-bit
-- strings, so a fast hash is enough (there is nothing to brute-force).

CREATE TABLE api_tokens (
    id              bigserial PRIMARY KEY,
    name            text NOT NULL CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    role            text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_sha256    text NOT NULL UNIQUE CHECK (token_sha256 ~ '^[0-9a-f]{64}$'),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    expires_at      timestamptz,
    revoked_at      timestamptz,
    last_used_at    timestamptz
);
-- A name means one live token; revoked ones keep their name for the audit trail.
CREATE UNIQUE INDEX api_tokens_live_name ON api_tokens (name) WHERE revoked_at IS NULL;

-- The signature of a report for grouping, as Sentry or Memfault group crashes
-- into issues: the first of the well-known detail fields that names where or
-- why it failed.
CREATE FUNCTION vigil_incident_signature(details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(details->>'pc', details->>'signature', details->>'reason',
                    details->>'fault_address', details->>'code', '')
$$;

-- The group: 16 hex digits of a hash of type, component and signature.
CREATE FUNCTION vigil_incident_group(type text, component text, details jsonb) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT left(md5(type || chr(31) || coalesce(component, '') || chr(31)
                    || vigil_incident_signature(details)), 16)
$$;

ALTER TABLE incidents ADD COLUMN fingerprint text
    GENERATED ALWAYS AS (vigil_incident_group(type, component, details)) STORED;

-- Keyset pagination of one device's incidents (newest first, seq breaks ties)
-- replaces the index without seq; seq alone finds one incident.
CREATE INDEX incidents_device_keyset ON incidents (device_id, received_at DESC, seq DESC);
DROP INDEX incidents_device;
CREATE INDEX incidents_by_seq ON incidents (seq);

-- The firmware a device last reported, and when that report was made, so an
-- old report sent late never replaces a newer version.
ALTER TABLE devices ADD COLUMN firmware_reported_at timestamptz;
CREATE INDEX devices_firmware ON devices (firmware_version) WHERE firmware_version IS NOT NULL;

CREATE INDEX audit_log_device ON audit_log (device_id, id) WHERE device_id IS NOT NULL;
CREATE INDEX devices_last_seen ON devices (last_seen_at);
