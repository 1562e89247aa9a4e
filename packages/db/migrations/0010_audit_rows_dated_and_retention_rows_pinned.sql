-- What an outside re-test of migration 0009 still got through as the app role (docs/audit.md "What the
-- database enforces"):
--   * a tenant's retention row moved onto another tenant (UPDATE tenant_retention SET tenant_id = …)
--     changed both tenants' retention with no audit row: the audit trigger compares the days only, and
--     the days had not changed. A retention row now stays its tenant's: change it, or delete it and
--     insert one for the other tenant (each of those writes its audit row).
--   * an audit row dated 'infinity', past year 9999 or in the future: such a row has no `at` text (or
--     one the verifiers cannot parse), so no checkpoint could ever seal it (and an export that holds it
--     does not verify offline), or it makes its checkpoint's maxAt the future, so retention never
--     prunes it. Every row is dated by the database's clock (the apps never send `at`), so a row dated
--     before 1970 or after its own transaction began is refused. NOT VALID: rows already there are not
--     re-checked (verify reports them), new rows are.
--   * an audit row with an id of its choosing: ids the sequence has not handed out yet (one row with
--     id 9e18 made every later row of its tenant fall inside a sealed range, so the checkpointer never
--     sealed that tenant again, silently), or ids <= 0 (never read by verify or the export, which
--     start after id 0). An id must be one the sequence has handed out (the default, nextval, always is).
--   * a session holding the tenant's checkpoint lock made audit_checkpoint_append wait forever (and
--     with it every tenant's checkpoints): it now waits at most 10 s, then raises (lock_not_available),
--     and the checkpointer says so at error level and goes on with the other tenants.
CREATE OR REPLACE FUNCTION tenant_retention_floor_check() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$
DECLARE
  v_floor integer;
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.tenant_id IS DISTINCT FROM OLD.tenant_id THEN
    RAISE EXCEPTION 'tenant % retention row cannot be moved to tenant % (delete it and insert one for the other tenant: each change is audited)', OLD.tenant_id, NEW.tenant_id
      USING ERRCODE = 'check_violation';
  END IF;
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
ALTER TABLE audit_events ADD CONSTRAINT audit_events_at_dated_by_database CHECK (at >= '1970-01-01T00:00:00Z'::timestamptz AND at <= now()) NOT VALID;
--> statement-breakpoint
ALTER TABLE audit_events ADD CONSTRAINT audit_events_id_from_sequence CHECK (id > 0 AND id <= coalesce(pg_catalog.pg_sequence_last_value('public.audit_events_id_seq'::regclass), 0)) NOT VALID;
--> statement-breakpoint
-- Waits for the tenant's checkpoint lock (and any row lock) at most 10 s, then raises lock_not_available (55P03).
ALTER FUNCTION audit_checkpoint_append(uuid, integer, bigint, bigint, integer, text, text, text, text, text, text, text) SET lock_timeout = '10s';
