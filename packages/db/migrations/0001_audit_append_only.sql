-- audit_events is append-only, enforced by the database (a record the app could rewrite would prove nothing).
-- 1. A trigger refuses UPDATE, DELETE and TRUNCATE for every role, the table owner included.
-- 2. The role the apps run as (mcprt_app) is granted INSERT and SELECT only.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
DROP TRIGGER IF EXISTS audit_events_no_update_delete ON audit_events;
--> statement-breakpoint
CREATE TRIGGER audit_events_no_update_delete BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION audit_events_append_only();
--> statement-breakpoint
DROP TRIGGER IF EXISTS audit_events_no_truncate ON audit_events;
--> statement-breakpoint
CREATE TRIGGER audit_events_no_truncate BEFORE TRUNCATE ON audit_events
  FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only();
--> statement-breakpoint
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mcprt_app') THEN
    CREATE ROLE mcprt_app NOLOGIN;
  END IF;
END
$$;
--> statement-breakpoint
GRANT SELECT, INSERT, UPDATE, DELETE ON tenants, users, credentials, tool_calls TO mcprt_app;
--> statement-breakpoint
GRANT SELECT, INSERT ON audit_events TO mcprt_app;
--> statement-breakpoint
REVOKE UPDATE, DELETE, TRUNCATE ON audit_events FROM mcprt_app;
--> statement-breakpoint
GRANT USAGE ON SEQUENCE audit_events_id_seq TO mcprt_app;
