-- 0006_updates: release keys, content-addressed artifacts, signed releases,
-- staged rollouts and the devices' progress in them, device tags.
--
-- vigilctl signs (it alone holds the release keys' private halves, in files
-- outside the database); the database holds only public keys, signed
-- manifests and artifact bytes, so a node or a database dump can serve
-- updates but never make one. Every change a node must follow is sent as a
-- NOTIFY on channel vigil_update, after which the node reloads its small
-- in-memory view of keys, releases and live rollouts.

-- Tags group devices for a rollout (`vigilctl rollout start --group TAG`).
ALTER TABLE devices ADD COLUMN tags text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(tags) <= 32);
CREATE INDEX devices_tags ON devices USING gin (tags);

-- The public halves of the release keys. Exactly one is active (signs new
-- releases); the others still verify. A key made by a rotation carries an
-- endorsement: a JWS by the key active before it, listing it, so a device
-- that pinned the old key can learn the new one without trusting the server.
CREATE TABLE release_keys (
    kid             text PRIMARY KEY CHECK (kid ~ '^[A-Za-z0-9_-]{43}$'),
    jwk             jsonb NOT NULL CHECK (jwk ? 'x' AND NOT jwk ? 'd'),
    active          boolean NOT NULL DEFAULT false,
    endorsement     text,
    endorsed_by     text REFERENCES release_keys (kid),
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    CHECK ((endorsement IS NULL) = (endorsed_by IS NULL))
);
CREATE UNIQUE INDEX release_keys_one_active ON release_keys (active) WHERE active;

-- Artifacts by SHA-256, stored in the database in chunks of at most 256 KiB
-- so that every node serves every artifact with no shared file system, a
-- Range request reads only the chunks it covers, and backups and streaming
-- replication carry artifacts like everything else. STORAGE EXTERNAL: no
-- compression (firmware images are compressed already) so that substring
-- reads of a chunk are cheap.
CREATE TABLE artifacts (
    sha256          text PRIMARY KEY CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    size            bigint NOT NULL CHECK (size > 0),
    chunk_size      integer NOT NULL CHECK (chunk_size BETWEEN 4096 AND 1048576),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE artifact_chunks (
    sha256          text NOT NULL REFERENCES artifacts (sha256) ON DELETE CASCADE,
    idx             integer NOT NULL CHECK (idx >= 0),
    data            bytea NOT NULL,
    PRIMARY KEY (sha256, idx)
);
ALTER TABLE artifact_chunks ALTER COLUMN data SET STORAGE EXTERNAL;

-- A release: one signed manifest for one artifact and one device class.
CREATE TABLE releases (
    id              bigserial PRIMARY KEY,
    version         text NOT NULL CHECK (version ~ '^[A-Za-z0-9][A-Za-z0-9.+_~-]{0,63}$'),
    device_class    text NOT NULL CHECK (device_class ~ '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$'),
    security_version bigint NOT NULL CHECK (security_version BETWEEN 0 AND 9007199254740992),
    artifact_sha256 text NOT NULL REFERENCES artifacts (sha256),
    size            bigint NOT NULL,
    kid             text NOT NULL REFERENCES release_keys (kid),
    manifest        text NOT NULL,              -- compact JWS
    notes           text CHECK (length(notes) <= 4096),
    issued_at       timestamptz NOT NULL,
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL,
    revoked_at      timestamptz,
    revoked_by      text,
    revoked_reason  text,
    UNIQUE (device_class, version),
    CHECK (expires_at > issued_at),
    CHECK ((revoked_at IS NULL) = (revoked_by IS NULL))
);

-- Anti-rollback at the source: a release's security version may not be
-- below the newest of its class (revoked releases count: devices may run
-- them). Two concurrent creates for one class are serialized by the lock,
-- after which the next statement's snapshot sees what the other
-- committed; under REPEATABLE READ the snapshot is the transaction's,
-- older than the lock, so an insert there is refused (SERIALIZABLE is
-- safe: two such inserts are a conflict it detects).
CREATE FUNCTION vigil_release_guard() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    newest bigint;
BEGIN
    IF current_setting('transaction_isolation') = 'repeatable read' THEN
        RAISE EXCEPTION 'a release is stored under READ COMMITTED or SERIALIZABLE: a REPEATABLE READ snapshot may miss the newest release of class %', NEW.device_class
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    PERFORM pg_advisory_xact_lock(hashtext('vigil_release:' || NEW.device_class));
    SELECT max(security_version) INTO newest FROM releases WHERE device_class = NEW.device_class;
    IF newest IS NOT NULL AND NEW.security_version < newest THEN
        RAISE EXCEPTION 'security version % is below %, the newest for class %',
            NEW.security_version, newest, NEW.device_class
            USING ERRCODE = 'check_violation', CONSTRAINT = 'releases_security_version_rollback';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER releases_guard BEFORE INSERT ON releases
    FOR EACH ROW EXECUTE FUNCTION vigil_release_guard();

-- A staged rollout of one release. basis_points of the class's devices
-- (those with group_tag, when set) are in it: rollout_bucket below. At most
-- one live rollout per class: starting another supersedes it.
CREATE TABLE rollouts (
    id              bigserial PRIMARY KEY,
    release_id      bigint NOT NULL REFERENCES releases (id),
    device_class    text NOT NULL,
    group_tag       text,
    state           text NOT NULL DEFAULT 'running'
                    CHECK (state IN ('running', 'paused', 'halted', 'aborted', 'superseded')),
    basis_points    integer NOT NULL CHECK (basis_points BETWEEN 1 AND 10000),
    error_threshold double precision NOT NULL DEFAULT 0.1 CHECK (error_threshold > 0 AND error_threshold <= 1),
    min_reports     integer NOT NULL DEFAULT 5 CHECK (min_reports >= 1),
    health_window_s bigint NOT NULL DEFAULT 86400 CHECK (health_window_s BETWEEN 60 AND 31536000),
    health_ratio    double precision NOT NULL DEFAULT 2.0 CHECK (health_ratio >= 1),
    health_min_crashes integer NOT NULL DEFAULT 3 CHECK (health_min_crashes >= 1),
    halt_reason     jsonb,
    -- The last resume after a halt (NULL: none): the automatic checks count
    -- only what happened since, else a resumed rollout would halt again on
    -- the very figures an operator has just looked at and accepted.
    checked_from    timestamptz,
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    created_by      text NOT NULL
);
CREATE UNIQUE INDEX rollouts_live_class ON rollouts (device_class)
    WHERE state IN ('running', 'paused', 'halted');

-- Each device's progress in a rollout: offered when vigild first answered it
-- the manifest, then what the device reported.
CREATE TABLE rollout_devices (
    rollout_id      bigint NOT NULL REFERENCES rollouts (id),
    device_id       text NOT NULL REFERENCES devices (id),
    state           text NOT NULL CHECK (state IN ('offered', 'downloading', 'installed', 'failed')),
    reason          text,
    offered_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    installed_at    timestamptz,
    PRIMARY KEY (rollout_id, device_id),
    CHECK ((state = 'installed') = (installed_at IS NOT NULL))
);
CREATE INDEX rollout_devices_state ON rollout_devices (rollout_id, state);

-- Crash and watchdog reports by receipt time: the health check counts them.
CREATE INDEX incidents_health ON incidents (received_at, device_id)
    WHERE type IN ('crash', 'watchdog_reset') AND source = 'device';

-- The same computation as rollout_bucket() in protocol/rollout.c. STABLE,
-- as convert_to is: an IMMUTABLE function with a STABLE body is never
-- inlined, and counting a class's eligible devices through a call per
-- row is three times as slow.
CREATE FUNCTION vigil_rollout_bucket(p_rollout bigint, p_device text) RETURNS integer
LANGUAGE sql STABLE STRICT AS $$
    SELECT (('x' || substr(encode(sha256(convert_to(p_rollout::text || ':' || p_device, 'UTF8')),
                                  'hex'), 1, 8))::bit(32)::bigint % 10000)::integer
$$;

CREATE FUNCTION vigil_update_notify(p_kind text, p_id bigint) RETURNS void
LANGUAGE sql AS $$
    SELECT pg_notify('vigil_update', json_build_object('kind', p_kind, 'id', p_id)::text)
$$;

-- Moves a rollout to p_to with its audit row and NOTIFY. The only legal
-- moves: running -> paused | halted, paused | halted -> running (resume),
-- and any live state -> aborted | superseded. Returns false (and changes
-- nothing) for any other move.
CREATE FUNCTION vigil_rollout_move(p_id bigint, p_to text, p_actor_kind text, p_actor text,
                                   p_reason jsonb DEFAULT NULL) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    r rollouts%ROWTYPE;
BEGIN
    SELECT * INTO r FROM rollouts WHERE id = p_id FOR UPDATE;
    IF NOT FOUND OR NOT (
        (r.state = 'running' AND p_to IN ('paused', 'halted')) OR
        (r.state IN ('paused', 'halted') AND p_to = 'running') OR
        (r.state IN ('running', 'paused', 'halted') AND p_to IN ('aborted', 'superseded'))) THEN
        RETURN false;
    END IF;
    UPDATE rollouts SET state = p_to, updated_at = now(),
           halt_reason = CASE WHEN p_to = 'halted' THEN p_reason
                              WHEN p_to = 'running' THEN NULL ELSE halt_reason END,
           checked_from = CASE WHEN r.state = 'halted' AND p_to = 'running' THEN now()
                               ELSE checked_from END
     WHERE id = p_id;
    INSERT INTO audit_log (actor_kind, actor, action, details)
    VALUES (p_actor_kind, p_actor, 'rollout.' || p_to,
            jsonb_build_object('rollout_id', p_id, 'from', r.state) ||
            CASE WHEN p_reason IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('reason', p_reason) END);
    PERFORM vigil_update_notify('rollout', p_id);
    RETURN true;
END $$;

-- Install failures: halts a running rollout when, after at least
-- min_reports installed-or-failed reports since checked_from, the failed share passes the
-- threshold. Returns true if it halted it.
CREATE FUNCTION vigil_rollout_check_failures(p_id bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    r rollouts%ROWTYPE;
    n_failed bigint;
    n_reported bigint;
BEGIN
    SELECT * INTO r FROM rollouts WHERE id = p_id;
    IF NOT FOUND OR r.state <> 'running' THEN
        RETURN false;
    END IF;
    SELECT count(*) FILTER (WHERE state = 'failed'), count(*) FILTER (WHERE state IN ('failed', 'installed'))
      INTO n_failed, n_reported FROM rollout_devices
     WHERE rollout_id = p_id AND (r.checked_from IS NULL OR updated_at >= r.checked_from);
    IF n_reported < r.min_reports OR n_failed::double precision / n_reported <= r.error_threshold THEN
        RETURN false;
    END IF;
    RETURN vigil_rollout_move(p_id, 'halted', 'server', 'vigild',
        jsonb_build_object('kind', 'install_failures', 'failed', n_failed, 'reported', n_reported,
                           'failure_share', round((n_failed::numeric / n_reported), 4),
                           'threshold', r.error_threshold, 'min_reports', r.min_reports));
END $$;

-- The control devices of a rollout: the class's other devices (not
-- decommissioned, not running the rollout's version, not installed in it,
-- in its group when it has one).
CREATE FUNCTION vigil_rollout_control(p_id bigint)
RETURNS TABLE (device_id text)
LANGUAGE sql STABLE AS $$
    SELECT dv.id FROM rollouts r JOIN releases rel ON rel.id = r.release_id
      JOIN devices dv ON dv.device_class = r.device_class
     WHERE r.id = p_id AND dv.status <> 'decommissioned'
       AND dv.firmware_version IS DISTINCT FROM rel.version
       AND (r.group_tag IS NULL OR r.group_tag = ANY (dv.tags))
       AND NOT EXISTS (SELECT 1 FROM rollout_devices d WHERE d.rollout_id = p_id
                          AND d.device_id = dv.id AND d.state = 'installed')
$$;

-- Post-install health of a rollout, as of now:
--   updated: devices that installed it; each is watched from its install
--     (or from checked_from, the last resume after a halt, if later) to
--     health_window_s after its install (or until now); crash and watchdog_reset reports
--     received in that time, per device-hour watched;
--   control (vigil_rollout_control) over the span from the first install
--     to the end of the last window (or now): their crash and
--     watchdog_reset reports received in that span, per device-hour.
-- Receipt time, the server's clock, not occurred_at: a device cannot move
-- its crashes out of the window. The crash reports of the span are read
-- once (incidents_health) and joined to both sides by hash: vigild runs
-- this every few seconds, and a probe of incidents per updated device
-- took seconds once a class had 100 000 of them.
CREATE FUNCTION vigil_rollout_health(p_id bigint)
RETURNS TABLE (updated_devices bigint, updated_crashes bigint, updated_device_hours double precision,
               updated_rate double precision, control_devices bigint, control_crashes bigint,
               control_device_hours double precision, control_rate double precision)
LANGUAGE plpgsql STABLE AS $$
DECLARE
    w interval;
    since timestamptz;
    span_from timestamptz;
    span_to timestamptz;
BEGIN
    SELECT make_interval(secs => health_window_s), checked_from INTO w, since
      FROM rollouts WHERE id = p_id;
    IF NOT FOUND THEN
        RETURN;
    END IF;
    -- a device is watched from its install, or from checked_from when it
    -- installed before it, to the end of its window (greatest ignores a
    -- NULL checked_from)
    SELECT count(*), min(greatest(installed_at, since)), least(now(), max(installed_at) + w),
           coalesce(sum(greatest(0, extract(epoch FROM least(now(), d.installed_at + w)
                                             - greatest(d.installed_at, since)))) / 3600, 0)
      INTO updated_devices, span_from, span_to, updated_device_hours
      FROM rollout_devices d WHERE d.rollout_id = p_id AND d.state = 'installed';
    -- no install yet: span_from is NULL and the span holds no report
    WITH crash AS MATERIALIZED (
        SELECT i.device_id, i.received_at FROM incidents i
         WHERE i.source = 'device' AND i.type IN ('crash', 'watchdog_reset')
           AND i.received_at >= span_from AND i.received_at <= span_to)
    SELECT u.n, c.devices, c.crashes INTO updated_crashes, control_devices, control_crashes
      FROM (SELECT count(*) AS n FROM crash k JOIN rollout_devices d
               ON d.rollout_id = p_id AND d.state = 'installed' AND d.device_id = k.device_id
             WHERE k.received_at >= greatest(d.installed_at, since)
               AND k.received_at < d.installed_at + w) u,
           (SELECT count(*) AS devices, coalesce(sum(k.n), 0) AS crashes
              FROM vigil_rollout_control(p_id) ctl
              LEFT JOIN (SELECT device_id, count(*) AS n FROM crash GROUP BY device_id) k
                ON k.device_id = ctl.device_id) c;
    control_device_hours := CASE WHEN span_to > span_from
        THEN control_devices * extract(epoch FROM span_to - span_from) / 3600 ELSE 0 END;
    updated_rate := CASE WHEN updated_device_hours > 0 THEN updated_crashes / updated_device_hours ELSE 0 END;
    control_rate := CASE WHEN control_device_hours > 0 THEN control_crashes / control_device_hours ELSE 0 END;
    RETURN NEXT;
END $$;

-- Halts every running rollout whose updated devices crash more than
-- health_ratio times as often as the control devices (and at least
-- health_min_crashes times in all). vigild runs it every few seconds under
-- an advisory lock, so one node does it. Returns how many it halted.
CREATE FUNCTION vigil_rollouts_check_health() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    r rollouts%ROWTYPE;
    h record;
    halted integer := 0;
BEGIN
    FOR r IN SELECT * FROM rollouts WHERE state = 'running' LOOP
        SELECT * INTO h FROM vigil_rollout_health(r.id);
        IF h.updated_crashes >= r.health_min_crashes AND h.updated_rate > r.health_ratio * h.control_rate
           AND vigil_rollout_move(r.id, 'halted', 'server', 'vigild',
                   jsonb_build_object('kind', 'health',
                       'updated_rate', round(h.updated_rate::numeric, 4),
                       'control_rate', round(h.control_rate::numeric, 4),
                       'updated_crashes', h.updated_crashes, 'updated_devices', h.updated_devices,
                       'updated_device_hours', round(h.updated_device_hours::numeric, 4),
                       'control_crashes', h.control_crashes, 'control_devices', h.control_devices,
                       'control_device_hours', round(h.control_device_hours::numeric, 4),
                       'ratio', r.health_ratio, 'window_s', r.health_window_s)) THEN
            halted := halted + 1;
        END IF;
    END LOOP;
    RETURN halted;
END $$;

-- The first time vigild answers a device a rollout's manifest. vigild
-- decides from memory; this checks the decision again against what is
-- committed, so a view that a NOTIFY has not reached yet (its LISTEN
-- connection down, a reload in flight) never lets out the manifest of a
-- revoked or expired release or a rollout no longer running, nor reaches
-- a device that is not active, of another class, not in the group or not
-- in the bucket: it raises (vigild answers 503 and records nothing; by
-- the retry its view has caught up). A device offered already stays as it is.
CREATE FUNCTION vigil_update_offered(p_rollout bigint, p_device text) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    why text;
BEGIN
    SELECT CASE
             WHEN o.state <> 'running' THEN format('rollout %s is %s', o.id, o.state)
             WHEN r.revoked_at IS NOT NULL THEN format('release %s is revoked', r.id)
             WHEN r.expires_at <= now() THEN format('release %s has expired', r.id)
             WHEN d.id IS NULL THEN format('there is no device %s', p_device)
             WHEN d.status <> 'active' THEN format('device %s is %s', d.id, d.status)
             WHEN d.device_class <> o.device_class
               THEN format('device %s is of class %s, rollout %s of class %s', d.id,
                           d.device_class, o.id, o.device_class)
             WHEN o.group_tag IS NOT NULL AND NOT o.group_tag = ANY (d.tags)
               THEN format('device %s is not tagged %s', d.id, o.group_tag)
             WHEN vigil_rollout_bucket(o.id, d.id) >= o.basis_points
               THEN format('device %s is not in rollout %s (its bucket is not under %s)', d.id,
                           o.id, o.basis_points)
           END INTO why
      FROM rollouts o JOIN releases r ON r.id = o.release_id
      LEFT JOIN devices d ON d.id = p_device
     WHERE o.id = p_rollout;
    IF NOT FOUND THEN
        why := format('there is no rollout %s', p_rollout);
    END IF;
    IF why IS NOT NULL THEN
        RAISE EXCEPTION 'no offer of rollout % to device %: %', p_rollout, p_device, why
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    INSERT INTO rollout_devices (rollout_id, device_id, state) VALUES (p_rollout, p_device, 'offered')
    ON CONFLICT DO NOTHING;
END $$;

-- A device's report of an update's progress (POST /v1/update/status), in
-- one transaction: the state in its rollout, on failed an update_failure
-- incident, on installed the device's firmware version, then the
-- install-failure check. p_report is the report's id, kept in
-- incident_keys like an incident report's, so a retry changes nothing.
-- code: ok, duplicate (this report id was seen: nothing changes; rollout_id
-- as far as it is known), or a refusal that changed
-- nothing: bad_state, unknown_release (no release of that version for the
-- device's class), not_offered (no rollout offered it to this device),
-- already_installed. halted: this report halted the rollout.
CREATE FUNCTION vigil_update_report(p_device text, p_version text, p_state text, p_reason text,
                                    p_report uuid, p_address inet,
                                    OUT code text, OUT rollout_id bigint, OUT halted boolean)
LANGUAGE plpgsql AS $$
DECLARE
    rel_id bigint;
    cur text;
BEGIN
    halted := false;
    IF p_state NOT IN ('downloading', 'installed', 'failed') THEN
        code := 'bad_state';
        RETURN;
    END IF;
    SELECT r.id INTO rel_id FROM releases r JOIN devices d ON d.device_class = r.device_class
     WHERE d.id = p_device AND r.version = p_version;
    IF FOUND THEN
        SELECT d.rollout_id, d.state INTO rollout_id, cur
          FROM rollout_devices d JOIN rollouts o ON o.id = d.rollout_id
         WHERE d.device_id = p_device AND o.release_id = rel_id
         ORDER BY d.rollout_id DESC LIMIT 1 FOR UPDATE OF d;
    END IF;
    -- a retry is answered like the first time it was seen (with its rollout)
    IF EXISTS (SELECT 1 FROM incident_keys k WHERE k.device_id = p_device AND k.report_id = p_report) THEN
        code := 'duplicate';
        RETURN;
    END IF;
    IF rel_id IS NULL THEN
        code := 'unknown_release';
        RETURN;
    END IF;
    IF rollout_id IS NULL THEN
        code := 'not_offered';
        RETURN;
    END IF;
    IF cur = 'installed' THEN
        code := 'already_installed';
        RETURN;
    END IF;
    INSERT INTO incident_keys (device_id, report_id) VALUES (p_device, p_report)
        ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN
        code := 'duplicate';
        RETURN;
    END IF;
    UPDATE rollout_devices SET state = p_state, reason = p_reason, updated_at = now(),
           installed_at = CASE WHEN p_state = 'installed' THEN now() END
     WHERE rollout_devices.rollout_id = vigil_update_report.rollout_id AND device_id = p_device;
    IF p_state = 'failed' THEN
        INSERT INTO incidents (id, device_id, source, type, severity, occurred_at, firmware_version,
                               component, details, source_address)
        SELECT p_report, p_device, 'device', 'update_failure', 'error', now(), d.firmware_version,
               'update', jsonb_build_object('version', p_version, 'rollout_id', rollout_id,
                                            'reason', p_reason), p_address
          FROM devices d WHERE d.id = p_device;
        halted := vigil_rollout_check_failures(rollout_id);
    ELSIF p_state = 'installed' THEN
        UPDATE devices SET firmware_version = p_version, firmware_reported_at = now(),
               updated_at = now() WHERE id = p_device;
    END IF;
    code := 'ok';
END $$;
