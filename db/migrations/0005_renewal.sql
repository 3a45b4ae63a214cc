-- 0005_renewal: certificate renewal over EST (RFC 7030), the CA's renewal
-- policy, one-time renewal grants for expired certificates, certificate
-- lineage and the compromised-keys list.
--
-- vigild renews a certificate in one statement, vigil_renew(): the device
-- row is locked, every rule is checked again under that lock (so two
-- renewals racing on two nodes cannot both pass a rate limit or both spend
-- one grant), and the new certificate, the superseded mark, the grant's use
-- and the audit row commit together or not at all.

-- The public key of a certificate (SHA-256 of its DER SubjectPublicKeyInfo),
-- the certificate whose connection asked for its renewal (its lineage), and
-- the renewal that replaced it. key_sha256 is NULL only for certificates
-- issued before this migration.
ALTER TABLE certificates
    ADD COLUMN key_sha256 text CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    ADD COLUMN renewed_from text REFERENCES certificates (serial),
    ADD COLUMN superseded_by text REFERENCES certificates (serial),
    ADD COLUMN superseded_at timestamptz,
    ADD CHECK ((superseded_by IS NULL) = (superseded_at IS NULL));
-- Not partial: the lineage's recursive join (renewed_from = a serial) can
-- only use an index whose predicate its restriction clauses imply.
CREATE INDEX certificates_renewed_from ON certificates (renewed_from);
CREATE INDEX certificates_renewals ON certificates (device_id, created_at)
    WHERE renewed_from IS NOT NULL;
CREATE INDEX certificates_superseded ON certificates (superseded_at)
    WHERE superseded_at IS NOT NULL AND status = 'active';
CREATE INDEX certificates_key ON certificates (key_sha256) WHERE key_sha256 IS NOT NULL;

-- Keys that must never be certified again (enrollment and renewal refuse
-- them): every key of a certificate revoked for keyCompromise, and of its
-- descendants.
CREATE TABLE compromised_keys (
    key_sha256      text PRIMARY KEY CHECK (key_sha256 ~ '^[0-9a-f]{64}$'),
    serial          text,                   -- the certificate that carried it
    device_id       text,
    added_at        timestamptz NOT NULL DEFAULT now()
);

-- The CA's renewal policy: one row, changed by `vigilctl ca policy`.
CREATE TABLE ca_policy (
    id              boolean PRIMARY KEY DEFAULT true CHECK (id),
    renew_same_key  boolean NOT NULL DEFAULT true,
    renewal_validity_s bigint NOT NULL DEFAULT 86400 CHECK (renewal_validity_s BETWEEN 60 AND 315360000),
    renewals_per_hour integer NOT NULL DEFAULT 6 CHECK (renewals_per_hour BETWEEN 1 AND 3600),
    -- NULL: a superseded certificate stays valid until it expires.
    revoke_superseded_after_s bigint CHECK (revoke_superseded_after_s >= 0),
    updated_at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO ca_policy DEFAULT VALUES;

-- A one-time, time-limited permission for a device to renew with its newest
-- certificate although that certificate has expired. At most one open
-- grant per device; the first successful renewal spends it.
CREATE TABLE renewal_grants (
    id              bigserial PRIMARY KEY,
    device_id       text NOT NULL REFERENCES devices (id),
    serial          text NOT NULL REFERENCES certificates (serial),
    fingerprint_sha256 text NOT NULL,
    granted_at      timestamptz NOT NULL DEFAULT now(),
    granted_by      text NOT NULL,
    expires_at      timestamptz NOT NULL,
    used_at         timestamptz,
    used_serial     text REFERENCES certificates (serial),
    CHECK (expires_at > granted_at),
    CHECK ((used_at IS NULL) = (used_serial IS NULL))
);
CREATE UNIQUE INDEX renewal_grants_open ON renewal_grants (device_id) WHERE used_at IS NULL;
CREATE INDEX renewal_grants_fingerprint ON renewal_grants (fingerprint_sha256);

-- Certificates a renewal replaced (the earlier children of a certificate
-- that renewed again), revoked by vigild's periodic chore within seconds:
-- revoking them in the renewal itself would make every such renewal send a
-- NOTIFY, and PostgreSQL serializes the commits of notifying transactions.
-- Until then they may not renew.
CREATE TABLE pending_revocations (
    serial          text PRIMARY KEY REFERENCES certificates (serial),
    reason          text NOT NULL,
    details         jsonb NOT NULL DEFAULT '{}',
    queued_at       timestamptz NOT NULL DEFAULT now()
);

-- Why device p_device, authenticated by certificate p_auth_serial, may not
-- renew now with a CSR for key p_key (NULL code: it may). p_expired: the
-- certificate has expired and the connection rests on a renewal grant.
-- retry_after (seconds) is set for a rate limit. A certificate that was
-- renewed less than an hour ago may renew again (the device may never have
-- received the answer); vigil_renew then revokes the earlier children, so
-- one certificate never has two live lines of descendants.
CREATE FUNCTION vigil_renewal_refusal(p_device text, p_auth_serial text, p_key text,
                                      p_same_key boolean, p_expired boolean,
                                      OUT code text, OUT reason text, OUT retry_after integer)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    pol ca_policy;
    dev_status text;
    cert certificates;
    g renewal_grants;
    n integer;
    oldest timestamptz;
BEGIN
    SELECT * INTO pol FROM ca_policy;
    SELECT status INTO dev_status FROM devices WHERE id = p_device;
    SELECT * INTO cert FROM certificates WHERE serial = p_auth_serial;
    IF dev_status IS NULL OR cert.serial IS NULL OR cert.device_id <> p_device THEN
        code := 'unregistered'; reason := 'this certificate is not registered'; RETURN;
    END IF;
    IF dev_status = 'decommissioned' THEN
        code := 'decommissioned'; reason := 'this device is decommissioned'; RETURN;
    END IF;
    IF dev_status = 'quarantined' THEN
        code := 'quarantined';
        reason := 'this device is quarantined: it may report but not renew; ask the fleet operator';
        RETURN;
    END IF;
    IF cert.status <> 'active'
       OR EXISTS (SELECT 1 FROM pending_revocations WHERE serial = p_auth_serial) THEN
        code := 'revoked'; reason := 'this certificate is revoked'; RETURN;
    END IF;
    -- renewed an hour ago or more: the device has the newer certificate, so
    -- whoever renews with this one now holds a copy of an old key
    IF cert.superseded_at IS NOT NULL AND cert.superseded_at <= now() - interval '1 hour' THEN
        code := 'superseded';
        reason := format('this certificate was renewed at %s: renew with the newer certificate',
                         to_char(cert.superseded_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'));
        RETURN;
    END IF;
    -- a connection that is not on a grant was made while the certificate
    -- was in date, and may have stayed open past its expiry
    IF NOT p_expired AND cert.not_after <= now() THEN
        code := 'expired';
        reason := 'this certificate has expired: it renews only on a renewal grant, '
                  'on a new connection';
        RETURN;
    END IF;
    IF EXISTS (SELECT 1 FROM compromised_keys WHERE key_sha256 = p_key) THEN
        code := 'compromised_key';
        reason := 'the key in this CSR is on the compromised-keys list: make a new key';
        RETURN;
    END IF;
    -- the same key may sit in a certificate that was not revoked with it
    IF EXISTS (SELECT 1 FROM compromised_keys WHERE key_sha256 = cert.key_sha256) THEN
        code := 'compromised_key';
        reason := 'the key of this certificate is on the compromised-keys list; the device '
                  'must be enrolled again with a new key';
        RETURN;
    END IF;
    IF p_same_key AND NOT pol.renew_same_key THEN
        code := 'same_key';
        reason := 'this CA requires a new key for every renewal: make a new key and CSR';
        RETURN;
    END IF;
    IF p_expired THEN
        SELECT * INTO g FROM renewal_grants
         WHERE device_id = p_device AND fingerprint_sha256 = cert.fingerprint_sha256
         ORDER BY id DESC LIMIT 1;
        IF g.id IS NULL THEN
            code := 'no_grant';
            reason := 'this certificate has expired and no renewal grant covers it';
            RETURN;
        ELSIF g.used_at IS NOT NULL THEN
            code := 'grant_spent';
            reason := 'the renewal grant for this expired certificate has already been used';
            RETURN;
        ELSIF g.expires_at <= now() THEN
            code := 'grant_expired';
            reason := 'the renewal grant for this expired certificate has expired';
            RETURN;
        END IF;
    END IF;
    SELECT count(*), min(created_at) INTO n, oldest FROM certificates
     WHERE device_id = p_device AND renewed_from IS NOT NULL
       AND created_at > now() - interval '1 hour';
    IF n >= pol.renewals_per_hour THEN
        code := 'rate_limited';
        retry_after := greatest(1, ceil(extract(epoch FROM oldest + interval '1 hour' - now()))::int);
        reason := format('this device has renewed %s times in the last hour (the limit); retry in %s s',
                         n, retry_after);
        RETURN;
    END IF;
END $$;

-- The renewal policy and whether this renewal would be refused, in one row:
-- vigild asks before it signs, so a refused device costs no signature.
CREATE FUNCTION vigil_renewal_precheck(p_device text, p_auth_serial text, p_key text,
                                       p_same_key boolean, p_expired boolean,
                                       OUT code text, OUT reason text, OUT retry_after integer,
                                       OUT renewal_validity_s bigint)
LANGUAGE sql STABLE AS $$
    SELECT r.code, r.reason, r.retry_after, p.renewal_validity_s
      FROM vigil_renewal_refusal(p_device, p_auth_serial, p_key, p_same_key, p_expired) r,
           ca_policy p
$$;

-- Records a renewal vigild has signed, if it is still allowed under the
-- device's row lock: the new certificate (descended from p_auth_serial),
-- the old one superseded, the grant spent (p_expired), the audit rows.
-- Returns the refusal (code NULL: recorded), and how many certificates of
-- p_auth_serial's earlier lines it queued for revocation. Nothing is
-- written on a refusal.
CREATE FUNCTION vigil_renew(p_device text, p_auth_serial text, p_key text, p_same_key boolean,
                            p_expired boolean, p_serial text, p_issuer text,
                            p_fingerprint text, p_not_before bigint, p_not_after bigint,
                            p_pem text, p_actor text, p_address text,
                            OUT code text, OUT reason text, OUT retry_after integer,
                            OUT forked integer)
LANGUAGE plpgsql AS $$
DECLARE
    g_id bigint;
    others text[];
BEGIN
    forked := 0;
    PERFORM 1 FROM devices WHERE id = p_device FOR UPDATE;
    -- a revocation in flight holds this row (FOR UPDATE): wait for it, so
    -- the check below sees it and no child of a revoked certificate is born
    PERFORM 1 FROM certificates WHERE serial = p_auth_serial FOR UPDATE;
    SELECT r.code, r.reason, r.retry_after INTO code, reason, retry_after
      FROM vigil_renewal_refusal(p_device, p_auth_serial, p_key, p_same_key, p_expired) r;
    IF code IS NOT NULL THEN
        RETURN;
    END IF;
    INSERT INTO certificates (serial, device_id, issuer, fingerprint_sha256, not_before,
                              not_after, pem, key_sha256, renewed_from)
    VALUES (p_serial, p_device, p_issuer, p_fingerprint, to_timestamp(p_not_before),
            to_timestamp(p_not_after), p_pem, p_key, p_auth_serial);
    -- renewed again from one certificate: the earlier children and their
    -- descendants (an answer the device never got, or another holder of the
    -- key) are queued for revocation (pending_revocations), and forked
    -- tells vigild to raise a security event.
    WITH RECURSIVE line(serial) AS (
        SELECT c.serial FROM certificates c
         WHERE c.renewed_from = p_auth_serial AND c.serial <> p_serial
        UNION
        SELECT c.serial FROM certificates c JOIN line ON c.renewed_from = line.serial
    )
    SELECT array_agg(serial) INTO others FROM line;
    IF others IS NOT NULL THEN
        INSERT INTO pending_revocations (serial, reason, details)
        SELECT c.serial, 'superseded',
               jsonb_build_object('renewed_again_from', p_auth_serial, 'replaced_by', p_serial)
          FROM certificates c
         WHERE c.serial = ANY (others) AND c.status = 'active'
        ON CONFLICT (serial) DO NOTHING;
        GET DIAGNOSTICS forked = ROW_COUNT;
    END IF;
    UPDATE certificates SET superseded_by = p_serial, superseded_at = coalesce(superseded_at, now())
     WHERE serial = p_auth_serial;
    IF p_expired THEN
        UPDATE renewal_grants g SET used_at = now(), used_serial = p_serial
          FROM certificates c
         WHERE c.serial = p_auth_serial AND g.device_id = p_device
           AND g.fingerprint_sha256 = c.fingerprint_sha256 AND g.used_at IS NULL
        RETURNING g.id INTO g_id;
        INSERT INTO audit_log (actor_kind, actor, action, device_id, serial, details)
        VALUES ('server', p_actor, 'device.renewal_grant_used', p_device, p_auth_serial,
                jsonb_build_object('grant_id', g_id, 'new_serial', p_serial,
                                   'address', p_address));
        PERFORM pg_notify('vigil_registry', json_build_object(
            'event', 'renewal_grant', 'device_id', p_device,
            'fingerprint', (SELECT fingerprint_sha256 FROM certificates WHERE serial = p_auth_serial),
            'state', 'spent')::text);
    END IF;
    INSERT INTO audit_log (actor_kind, actor, action, device_id, serial, details)
    VALUES ('server', p_actor, 'cert.renew', p_device, p_serial,
            jsonb_build_object('renewed_from', p_auth_serial, 'same_key', p_same_key,
                               'key_sha256', p_key, 'issuer', p_issuer,
                               'not_after', to_char(to_timestamp(p_not_after) AT TIME ZONE 'UTC',
                                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                               'expired_grant', p_expired, 'address', p_address));
END $$;

-- The certificate p_serial and every certificate renewed from it, directly
-- or through others (depth 0 is p_serial itself).
CREATE FUNCTION vigil_certificate_descendants(p_serial text)
RETURNS TABLE (serial text, depth integer)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE d(serial, depth) AS (
        SELECT c.serial, 0 FROM certificates c WHERE c.serial = p_serial
        UNION ALL
        SELECT c.serial, d.depth + 1 FROM certificates c JOIN d ON c.renewed_from = d.serial
    ) CYCLE serial SET is_cycle USING path   -- renewed_from never loops; if edited to, stop
    SELECT serial, depth FROM d WHERE NOT is_cycle
$$;

-- Revokes the certificates of p_serials that are still active, with reason
-- p_reason, each with the NOTIFY on which every vigild closes its live
-- connections; returns those it revoked. Every revocation goes through here
-- (vigilctl's and the API's by way of db_revoke_where, vigild's chore).
CREATE FUNCTION vigil_revoke(p_serials text[], p_reason text)
RETURNS TABLE (serial text, device_id text, issuer text)
LANGUAGE sql AS $$
    WITH r AS (
        UPDATE certificates c SET status = 'revoked', revoked_at = now(),
               revocation_reason = p_reason
         WHERE c.serial = ANY (p_serials) AND c.status = 'active'
        RETURNING c.serial, c.device_id, c.issuer, c.fingerprint_sha256
    )
    SELECT r.serial, r.device_id, r.issuer FROM r,
           LATERAL (SELECT pg_notify('vigil_registry', json_build_object(
                        'event', 'certificate_revoked', 'serial', r.serial,
                        'device_id', r.device_id, 'fingerprint', r.fingerprint_sha256)::text)) n
$$;

-- Revokes the certificates renewals queued in pending_revocations, and the
-- superseded certificates whose grace period (the policy's
-- revoke_superseded_after_s) is over, with reason superseded, a NOTIFY and
-- an audit row each, in one transaction; returns how many. vigild runs it
-- every 2 s.
CREATE FUNCTION vigil_revoke_superseded(p_actor text) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    grace bigint;
    n integer := 0;
BEGIN
    SELECT revoke_superseded_after_s INTO grace FROM ca_policy;
    IF grace IS NOT NULL THEN
        INSERT INTO pending_revocations (serial, reason, details)
        SELECT serial, 'superseded', jsonb_build_object('superseded_by', superseded_by)
          FROM certificates
         WHERE status = 'active' AND superseded_at IS NOT NULL
           AND superseded_at <= now() - make_interval(secs => grace) AND not_after > now()
        ON CONFLICT (serial) DO NOTHING;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pending_revocations) THEN
        RETURN 0;
    END IF;
    WITH p AS (
        DELETE FROM pending_revocations RETURNING serial, reason, details
    ), r AS (
        SELECT v.serial, v.device_id, p.reason, p.details
          FROM p, LATERAL vigil_revoke(ARRAY[p.serial], p.reason) v
    ), a AS (
        INSERT INTO audit_log (actor_kind, actor, action, device_id, serial, details)
        SELECT 'server', p_actor, 'cert.revoke', device_id, serial,
               jsonb_build_object('reason', reason) || details
          FROM r
    )
    SELECT count(*) INTO n FROM r;
    RETURN n;
END $$;
