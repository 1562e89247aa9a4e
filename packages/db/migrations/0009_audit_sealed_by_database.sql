-- The audit trail is sealed by the database, not by whatever the app role sends (docs/audit.md
-- "What the database enforces"). The app role (DATABASE_URL) could insert checkpoints and retention-log
-- rows and set any retention; with that it could make audit rows disappear, or disappear from verify
-- and export. From here on:
--   * a checkpoint is written only by audit_checkpoint_append (owner, SECURITY DEFINER), which
--     recomputes ids, leaves, rows hash, times, chain link and hash from the tenant's real rows and
--     refuses anything that differs; INSERT on audit_checkpoints is revoked from the app role (roles.ts);
--   * audit_retention_log is written only by audit_retention_sweep (INSERT revoked too), which records
--     the retention and floor it applied, and re-checks every checkpoint before it trusts it;
--   * the audit retention has a floor only the owner can change (audit_retention_floor), a CHECK on
--     tenant_retention, and every change of tenant_retention writes an audit row (trigger).
-- Hashing uses Postgres' built-in sha256() (PostgreSQL 11+): no extension is needed.

-- 1. The row and checkpoint encodings of @mcprt/crypto audit-chain.ts, in SQL.
-- `at` as hashed and exported: UTC with microseconds.
-- The helpers below are plain SQL, STABLE (to_char and to_json are), no SET clause: the planner inlines
-- them, which makes hashing 5 000 rows ~5x cheaper than a function call per row.
CREATE OR REPLACE FUNCTION audit_at_text(p_at timestamptz) RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')
$$;
--> statement-breakpoint
-- leaf = SHA-256("mcprt.audit.row.v1\n" || JSON.stringify([id, tenantId, userId, clientId, callId, tool,
-- action, decision, reason, requestId, at])). to_json(text) escapes exactly as JSON.stringify does for
-- any text Postgres can hold (", \, \b \f \n \r \t, other controls as \u00xx, nothing else).
CREATE OR REPLACE FUNCTION audit_row_leaf(p_id bigint, p_tenant uuid, p_user uuid, p_client text, p_call text, p_tool text,
  p_action text, p_decision text, p_reason text, p_request text, p_at timestamptz)
RETURNS bytea LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.sha256(pg_catalog.convert_to(
    E'mcprt.audit.row.v1\n[' || p_id::text
      || ',' || pg_catalog.to_json(p_tenant::text)::text
      || ',' || coalesce(pg_catalog.to_json(p_user::text)::text, 'null')
      || ',' || coalesce(pg_catalog.to_json(p_client)::text, 'null')
      || ',' || coalesce(pg_catalog.to_json(p_call)::text, 'null')
      || ',' || coalesce(pg_catalog.to_json(p_tool)::text, 'null')
      || ',' || pg_catalog.to_json(p_action)::text
      || ',' || pg_catalog.to_json(p_decision)::text
      || ',' || coalesce(pg_catalog.to_json(p_reason)::text, 'null')
      || ',' || coalesce(pg_catalog.to_json(p_request)::text, 'null')
      || ',' || pg_catalog.to_json(public.audit_at_text(p_at))::text
      || ']', 'UTF8'))
$$;
--> statement-breakpoint
-- hash = hex SHA-256 of canonicalJson(payload): keys sorted, no whitespace.
CREATE OR REPLACE FUNCTION audit_checkpoint_hash(p_tenant uuid, p_seq integer, p_first_id bigint, p_last_id bigint, p_count integer,
  p_min_at text, p_max_at text, p_rows_hash text, p_prev_hash text, p_key_id text)
RETURNS text LANGUAGE sql STABLE PARALLEL SAFE AS $$
  SELECT pg_catalog.encode(pg_catalog.sha256(pg_catalog.convert_to(
    '{"count":' || p_count::text
      || ',"firstId":' || p_first_id::text
      || ',"keyId":' || pg_catalog.to_json(p_key_id)::text
      || ',"lastId":' || p_last_id::text
      || ',"maxAt":' || pg_catalog.to_json(p_max_at)::text
      || ',"minAt":' || pg_catalog.to_json(p_min_at)::text
      || ',"prevHash":' || pg_catalog.to_json(p_prev_hash)::text
      || ',"rowsHash":' || pg_catalog.to_json(p_rows_hash)::text
      || ',"seq":' || p_seq::text
      || ',"tenantId":' || pg_catalog.to_json(p_tenant::text)::text
      || ',"v":1}', 'UTF8')), 'hex')
$$;
--> statement-breakpoint
-- 2. The only way a checkpoint is written. Under a per-tenant transaction lock it reads the tenant's
-- real last checkpoint, recomputes everything but the signature from every row of the tenant with
-- id in (previous last_id, p_last_id], and refuses unless each value sent equals the computed one.
-- Returns false when p_seq is already taken (another checkpointer wrote it first). The Ed25519
-- signature cannot be checked in SQL: a bad one is the caller's, and `audit verify` and the
-- checkpointer flag it; it cannot make a checkpoint describe rows falsely or fork the chain.
CREATE OR REPLACE FUNCTION audit_checkpoint_append(p_tenant uuid, p_seq integer, p_first_id bigint, p_last_id bigint, p_count integer,
  p_min_at text, p_max_at text, p_rows_hash text, p_prev_hash text, p_key_id text, p_hash text, p_signature text)
RETURNS boolean LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_seq integer;
  v_after bigint;
  v_prev text;
  v_n integer;
  v_first bigint;
  v_last bigint;
  v_ids bigint[];
  v_leaves bytea;
  v_min timestamptz;
  v_max timestamptz;
  v_rows_hash text;
  v_hash text;
  v_bad text[] := '{}';
BEGIN
  IF p_tenant IS NULL OR p_seq IS NULL OR p_first_id IS NULL OR p_last_id IS NULL OR p_count IS NULL OR p_min_at IS NULL OR p_max_at IS NULL
     OR p_rows_hash IS NULL OR p_prev_hash IS NULL OR p_key_id IS NULL OR p_hash IS NULL OR p_signature IS NULL THEN
    RAISE EXCEPTION 'audit checkpoint refused: every argument is required' USING ERRCODE = 'null_value_not_allowed';
  END IF;
  PERFORM pg_advisory_xact_lock(hashtextextended('audit-checkpoint-append:' || p_tenant::text, 0));
  SELECT c.seq, c.last_id, c.hash INTO v_seq, v_after, v_prev
    FROM public.audit_checkpoints c WHERE c.tenant_id = p_tenant ORDER BY c.seq DESC LIMIT 1;
  v_seq := coalesce(v_seq, 0);
  v_after := coalesce(v_after, 0);
  v_prev := coalesce(v_prev, repeat('0', 64));
  IF p_seq <= v_seq THEN
    RETURN false;
  END IF;
  IF p_seq <> v_seq + 1 THEN
    RAISE EXCEPTION 'audit checkpoint refused: tenant %''s next checkpoint is %, not %', p_tenant, v_seq + 1, p_seq USING ERRCODE = 'check_violation';
  END IF;
  IF p_last_id <= v_after THEN
    RAISE EXCEPTION 'audit checkpoint refused: rows up to % are sealed already', v_after USING ERRCODE = 'check_violation';
  END IF;
  SELECT count(*)::integer, min(e.id), max(e.id), array_agg(e.id ORDER BY e.id),
         string_agg(public.audit_row_leaf(e.id, e.tenant_id, e.user_id, e.client_id, e.call_id, e.tool, e.action, e.decision, e.reason, e.request_id, e.at), ''::bytea ORDER BY e.id),
         min(e.at), max(e.at)
    INTO v_n, v_first, v_last, v_ids, v_leaves, v_min, v_max
    FROM public.audit_events e
   WHERE e.tenant_id = p_tenant AND e.id > v_after AND e.id <= p_last_id;
  IF v_n = 0 THEN
    RAISE EXCEPTION 'audit checkpoint refused: tenant % has no rows in (%, %]', p_tenant, v_after, p_last_id USING ERRCODE = 'check_violation';
  END IF;
  v_rows_hash := encode(sha256(v_leaves), 'hex');
  v_hash := public.audit_checkpoint_hash(p_tenant, p_seq, v_first, v_last, v_n, public.audit_at_text(v_min), public.audit_at_text(v_max), v_rows_hash, v_prev, p_key_id);
  IF p_prev_hash <> v_prev THEN v_bad := array_append(v_bad, 'prevHash'); END IF;
  IF p_first_id <> v_first THEN v_bad := array_append(v_bad, 'firstId'); END IF;
  IF p_last_id <> v_last THEN v_bad := array_append(v_bad, 'lastId'); END IF;
  IF p_count <> v_n THEN v_bad := array_append(v_bad, 'count'); END IF;
  IF p_min_at <> public.audit_at_text(v_min) THEN v_bad := array_append(v_bad, 'minAt'); END IF;
  IF p_max_at <> public.audit_at_text(v_max) THEN v_bad := array_append(v_bad, 'maxAt'); END IF;
  IF p_rows_hash <> v_rows_hash THEN v_bad := array_append(v_bad, 'rowsHash'); END IF;
  IF p_hash <> v_hash THEN v_bad := array_append(v_bad, 'hash'); END IF;
  IF cardinality(v_bad) > 0 THEN
    RAISE EXCEPTION 'audit checkpoint % of tenant % refused: % differ from the rows and the chain in the database', p_seq, p_tenant, array_to_string(v_bad, ', ')
      USING ERRCODE = 'check_violation';
  END IF;
  INSERT INTO public.audit_checkpoints (tenant_id, seq, first_id, last_id, row_count, min_at, max_at, rows_hash, prev_hash, hash, key_id, signature, ids, leaves)
  VALUES (p_tenant, p_seq, v_first, v_last, v_n, public.audit_at_text(v_min), public.audit_at_text(v_max), v_rows_hash, v_prev, v_hash, p_key_id, p_signature, v_ids, v_leaves);
  RETURN true;
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION audit_checkpoint_append(uuid, integer, bigint, bigint, integer, text, text, text, text, text, text, text) FROM PUBLIC;
--> statement-breakpoint
-- 3. The retention floor: one row, written by the owner only (the app role may only read it). The
-- sweep never keeps audit rows for less than this, whatever tenant_retention says. Change it as the
-- owner: UPDATE audit_retention_floor SET audit_event_days = 90;
CREATE TABLE IF NOT EXISTS audit_retention_floor (
  id boolean PRIMARY KEY DEFAULT true CHECK (id),
  audit_event_days integer NOT NULL CHECK (audit_event_days > 0)
);
--> statement-breakpoint
INSERT INTO audit_retention_floor (id, audit_event_days) VALUES (true, 30) ON CONFLICT (id) DO NOTHING;
--> statement-breakpoint
-- The retention log records what the sweep applied (null on rows written before this migration).
ALTER TABLE audit_retention_log ADD COLUMN IF NOT EXISTS audit_event_days integer;
--> statement-breakpoint
ALTER TABLE audit_retention_log ADD COLUMN IF NOT EXISTS floor_days integer;
--> statement-breakpoint
-- 4. Changes of a tenant's retention: never below the floor, and always in the audit.
CREATE OR REPLACE FUNCTION tenant_retention_floor_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_floor integer;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.audit_event_days IS NOT DISTINCT FROM OLD.audit_event_days THEN
    RETURN NEW;
  END IF;
  SELECT f.audit_event_days INTO v_floor FROM public.audit_retention_floor f;
  IF NEW.audit_event_days < coalesce(v_floor, 1) THEN
    RAISE EXCEPTION 'audit retention of % days is below the floor of % days set by the database owner (audit_retention_floor)', NEW.audit_event_days, v_floor
      USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END;
$$;
--> statement-breakpoint
CREATE OR REPLACE FUNCTION tenant_retention_audit() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_tenant uuid := CASE WHEN TG_OP = 'DELETE' THEN OLD.tenant_id ELSE NEW.tenant_id END;
  v_old text := CASE WHEN TG_OP = 'INSERT' THEN 'defaults (audit 400 days, call results 30 days)'
                     ELSE format('audit %s days, call results %s days', OLD.audit_event_days, OLD.call_result_days) END;
  v_new text := CASE WHEN TG_OP = 'DELETE' THEN 'defaults (audit 400 days, call results 30 days)'
                     ELSE format('audit %s days, call results %s days', NEW.audit_event_days, NEW.call_result_days) END;
BEGIN
  IF TG_OP = 'UPDATE' AND v_old = v_new THEN
    RETURN NULL;
  END IF;
  -- A tenant being deleted takes its retention row with it (cascade): nothing to record.
  IF TG_OP = 'DELETE' AND NOT EXISTS (SELECT 1 FROM public.tenants t WHERE t.id = v_tenant) THEN
    RETURN NULL;
  END IF;
  INSERT INTO public.audit_events (tenant_id, action, decision, reason)
  VALUES (v_tenant, 'tenant.retention_changed', 'info', format('%s → %s (database role %s)', v_old, v_new, session_user));
  RETURN NULL;
END;
$$;
--> statement-breakpoint
DROP TRIGGER IF EXISTS tenant_retention_floor ON tenant_retention;
--> statement-breakpoint
CREATE TRIGGER tenant_retention_floor BEFORE INSERT OR UPDATE ON tenant_retention FOR EACH ROW EXECUTE FUNCTION tenant_retention_floor_check();
--> statement-breakpoint
DROP TRIGGER IF EXISTS tenant_retention_audited ON tenant_retention;
--> statement-breakpoint
CREATE TRIGGER tenant_retention_audited AFTER INSERT OR UPDATE OR DELETE ON tenant_retention FOR EACH ROW EXECUTE FUNCTION tenant_retention_audit();
--> statement-breakpoint
-- A retention of zero or fewer days (a cutoff in the future) was accepted before: back to the defaults, recorded by the trigger.
UPDATE tenant_retention SET audit_event_days = 400 WHERE audit_event_days <= 0;
--> statement-breakpoint
UPDATE tenant_retention SET call_result_days = 30 WHERE call_result_days <= 0;
--> statement-breakpoint
ALTER TABLE tenant_retention ADD CONSTRAINT tenant_retention_days_positive CHECK (audit_event_days > 0 AND call_result_days > 0);
--> statement-breakpoint
-- 5. The sweep, again the only way audit rows leave: it uses the tenant's retention but never less than
-- the floor, and only a checkpoint that holds up, re-checked here because checkpoints written before
-- this migration (by the app role) are not trusted blindly: its hash against its fields, its link to
-- the previous checkpoint, its ids and leaves against its rows hash, and every row it is about to
-- delete against its sealed leaf (all of them present, all older than the cutoff). A checkpoint that
-- fails is not used: the function returns it with the reason in `refused` (the job logs it at error
-- level and stops the tenant's sweep there) and deletes nothing.
-- The log may hold more than one row per checkpoint (one written by the app role before this
-- migration, then the sweep's own): not unique any more; audit_checkpoint_pruned asks for one that agrees.
DROP INDEX IF EXISTS audit_retention_log_checkpoint;
--> statement-breakpoint
CREATE INDEX audit_retention_log_checkpoint ON audit_retention_log (tenant_id, checkpoint_seq);
--> statement-breakpoint
DROP FUNCTION IF EXISTS audit_retention_sweep(uuid);
--> statement-breakpoint
CREATE FUNCTION audit_retention_sweep(p_tenant uuid)
RETURNS TABLE (checkpoint_seq integer, rows_deleted integer, refused text)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_floor integer;
  v_days integer;
  v_cutoff timestamptz;
  c public.audit_checkpoints%ROWTYPE;
  v_prev_hash text;
  v_prev_last bigint;
  v_problem text;
  v_present integer;
  v_matching integer;
  v_young integer;
  v_n integer;
BEGIN
  SELECT f.audit_event_days INTO v_floor FROM public.audit_retention_floor f;
  v_floor := coalesce(v_floor, 30);
  v_days := greatest(coalesce((SELECT r.audit_event_days FROM public.tenant_retention r WHERE r.tenant_id = p_tenant), 400), v_floor);
  v_cutoff := now() - make_interval(days => v_days);
  -- The oldest checkpoint whose maxAt is before the cutoff and some of whose rows still exist (maxAt
  -- is checked against the rows themselves below; a checkpoint with a malformed one is never used).
  -- "Still has rows" is read from audit_events, not from the retention log: a log row written before
  -- the log was the sweep's alone must not make the sweep skip a checkpoint (and so prune out of order).
  SELECT * INTO c
    FROM public.audit_checkpoints x
   WHERE x.tenant_id = p_tenant
     AND CASE WHEN x.max_at ~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$' THEN x.max_at::timestamptz < v_cutoff ELSE false END
     AND EXISTS (SELECT 1 FROM public.audit_events e WHERE e.tenant_id = p_tenant AND e.id BETWEEN x.first_id AND x.last_id)
   ORDER BY x.seq
   LIMIT 1;
  IF c.seq IS NULL THEN
    RETURN;
  END IF;
  IF c.seq = 1 THEN
    v_prev_hash := repeat('0', 64);
    v_prev_last := 0;
  ELSE
    SELECT p.hash, p.last_id INTO v_prev_hash, v_prev_last FROM public.audit_checkpoints p WHERE p.tenant_id = p_tenant AND p.seq = c.seq - 1;
  END IF;
  IF v_prev_hash IS NULL THEN
    v_problem := format('checkpoint %s is missing', c.seq - 1);
  ELSIF c.prev_hash <> v_prev_hash THEN
    v_problem := format('its prevHash is not checkpoint %s''s hash', c.seq - 1);
  ELSIF c.hash <> public.audit_checkpoint_hash(c.tenant_id, c.seq, c.first_id, c.last_id, c.row_count, c.min_at, c.max_at, c.rows_hash, c.prev_hash, c.key_id) THEN
    v_problem := 'its hash does not match its fields';
  ELSIF c.first_id <= v_prev_last OR c.row_count < 1 OR cardinality(c.ids) <> c.row_count OR c.ids[1] <> c.first_id
     OR c.ids[c.row_count] <> c.last_id OR length(c.leaves) <> 32 * c.row_count
     OR EXISTS (SELECT 1 FROM unnest(c.ids) WITH ORDINALITY u(id, i) WHERE u.i > 1 AND u.id <= c.ids[u.i - 1]) THEN
    v_problem := 'its ids disagree with its range, count or leaves';
  ELSIF encode(sha256(c.leaves), 'hex') <> c.rows_hash THEN
    v_problem := 'its leaves do not match its rowsHash';
  ELSE
    SELECT count(e.id)::integer,
           count(*) FILTER (WHERE public.audit_row_leaf(e.id, e.tenant_id, e.user_id, e.client_id, e.call_id, e.tool, e.action, e.decision, e.reason, e.request_id, e.at)
                                  = substring(c.leaves FROM (u.i::integer - 1) * 32 + 1 FOR 32))::integer,
           count(*) FILTER (WHERE e.at >= v_cutoff)::integer
      INTO v_present, v_matching, v_young
      FROM unnest(c.ids) WITH ORDINALITY u(id, i)
      JOIN public.audit_events e ON e.id = u.id AND e.tenant_id = p_tenant;
    IF v_present <> c.row_count THEN
      v_problem := format('%s of its %s rows are not there', c.row_count - v_present, c.row_count);
    ELSIF v_matching <> c.row_count THEN
      v_problem := format('%s of its rows differ from what it sealed', c.row_count - v_matching);
    ELSIF v_young > 0 THEN
      v_problem := format('%s of its rows are newer than the cutoff (its maxAt is false)', v_young);
    END IF;
  END IF;
  IF v_problem IS NOT NULL THEN
    checkpoint_seq := c.seq;
    rows_deleted := 0;
    refused := v_problem;
    RETURN NEXT;
    RETURN;
  END IF;
  PERFORM set_config('mcprt.audit_retention', 'on', true);
  DELETE FROM public.audit_events e WHERE e.tenant_id = p_tenant AND e.id = ANY (c.ids) AND e.at < v_cutoff;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  PERFORM set_config('mcprt.audit_retention', 'off', true);
  INSERT INTO public.audit_retention_log (tenant_id, checkpoint_seq, first_id, last_id, rows_deleted, cutoff, audit_event_days, floor_days)
  VALUES (p_tenant, c.seq, c.first_id, c.last_id, v_n, v_cutoff, v_days, v_floor);
  checkpoint_seq := c.seq;
  rows_deleted := v_n;
  refused := NULL;
  RETURN NEXT;
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION audit_retention_sweep(uuid) FROM PUBLIC;
--> statement-breakpoint
-- 6. Is a checkpoint really pruned? Only if none of the rows of its range exist AND a log row says
-- retention removed them with a cutoff later than the checkpoint's maxAt and at least the floor
-- before the prune (the floor it recorded; the current floor for rows written before this migration).
-- Verify and export use this and nothing else: a log row alone never hides a row.
CREATE OR REPLACE FUNCTION audit_checkpoint_pruned(p_tenant uuid, p_seq integer, p_first_id bigint, p_last_id bigint, p_max_at text)
RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT CASE WHEN p_max_at !~ '^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$' THEN false
    ELSE NOT EXISTS (SELECT 1 FROM public.audit_events e WHERE e.tenant_id = p_tenant AND e.id BETWEEN p_first_id AND p_last_id)
     AND EXISTS (
       SELECT 1 FROM public.audit_retention_log l
        WHERE l.tenant_id = p_tenant AND l.checkpoint_seq = p_seq AND l.first_id = p_first_id AND l.last_id = p_last_id
          AND l.cutoff > p_max_at::timestamptz
          AND l.at <= now()
          AND l.cutoff <= l.at - make_interval(days => coalesce(l.floor_days, (SELECT f.audit_event_days FROM public.audit_retention_floor f), 30)))
  END
$$;
