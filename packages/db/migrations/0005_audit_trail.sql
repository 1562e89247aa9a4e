CREATE TABLE "audit_checkpoints" (
	"tenant_id" uuid NOT NULL,
	"seq" integer NOT NULL,
	"first_id" bigint NOT NULL,
	"last_id" bigint NOT NULL,
	"row_count" integer NOT NULL,
	"min_at" text NOT NULL,
	"max_at" text NOT NULL,
	"rows_hash" text NOT NULL,
	"prev_hash" text NOT NULL,
	"hash" text NOT NULL,
	"key_id" text NOT NULL,
	"signature" text NOT NULL,
	"ids" bigint[] NOT NULL,
	"leaves" "bytea" NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "audit_checkpoints_tenant_id_seq_pk" PRIMARY KEY("tenant_id","seq")
);
--> statement-breakpoint
CREATE TABLE "audit_retention_log" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"checkpoint_seq" integer NOT NULL,
	"first_id" bigint NOT NULL,
	"last_id" bigint NOT NULL,
	"rows_deleted" integer NOT NULL,
	"cutoff" timestamp with time zone NOT NULL,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenant_api_keys" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"name" text NOT NULL,
	"secret_hash" text NOT NULL,
	"scopes" text[] NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"last_used_at" timestamp with time zone,
	"revoked_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "tenant_retention" (
	"tenant_id" uuid PRIMARY KEY NOT NULL,
	"call_result_days" integer DEFAULT 30 NOT NULL,
	"audit_event_days" integer DEFAULT 400 NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_checkpoints" ADD CONSTRAINT "audit_checkpoints_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "audit_retention_log" ADD CONSTRAINT "audit_retention_log_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_api_keys" ADD CONSTRAINT "tenant_api_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_retention" ADD CONSTRAINT "tenant_retention_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "tenant_api_keys_tenant" ON "tenant_api_keys" USING btree ("tenant_id");--> statement-breakpoint
CREATE INDEX "tool_calls_user_created" ON "tool_calls" USING btree ("user_id","created_at","id");--> statement-breakpoint
CREATE INDEX "tool_calls_created" ON "tool_calls" USING btree ("created_at","id","tenant_id");--> statement-breakpoint
-- The verifiable audit trail (docs/audit.md). Checkpoints and the retention log are append-only like audit_events:
-- a trigger refuses UPDATE, DELETE and TRUNCATE for every role (the app role also lacks the grants, roles.ts).
CREATE OR REPLACE FUNCTION mcprt_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION '% is append-only (% refused)', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE OR DELETE ON audit_checkpoints FOR EACH ROW EXECUTE FUNCTION mcprt_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_checkpoints_no_truncate BEFORE TRUNCATE ON audit_checkpoints FOR EACH STATEMENT EXECUTE FUNCTION mcprt_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_retention_log_append_only BEFORE UPDATE OR DELETE ON audit_retention_log FOR EACH ROW EXECUTE FUNCTION mcprt_append_only();
--> statement-breakpoint
CREATE TRIGGER audit_retention_log_no_truncate BEFORE TRUNCATE ON audit_retention_log FOR EACH STATEMENT EXECUTE FUNCTION mcprt_append_only();
--> statement-breakpoint
-- audit_events stays append-only, with one exception: a DELETE inside audit_retention_sweep (below),
-- which runs as the owner and flags itself with a transaction-local setting. The app role has no
-- DELETE privilege on the table, so setting the flag itself gets it nothing.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('mcprt.audit_retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP USING ERRCODE = 'insufficient_privilege';
END;
$$;
--> statement-breakpoint
-- The only way audit rows leave (retention): the rows of the tenant's oldest checkpoint
-- that is wholly older than the tenant's audit retention, and only the ids that checkpoint sealed, in
-- one transaction with the log row that records it. One checkpoint (at most AUDIT_CHECKPOINT_MAX_ROWS
-- rows) per call: short transactions, row locks only. Returns nothing when nothing is due.
CREATE OR REPLACE FUNCTION audit_retention_sweep(p_tenant uuid)
RETURNS TABLE (checkpoint_seq integer, rows_deleted integer)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, public AS $$
DECLARE
  v_cutoff timestamptz;
  v_seq integer;
  v_first bigint;
  v_last bigint;
  v_ids bigint[];
  v_n integer;
BEGIN
  v_cutoff := now() - make_interval(days => coalesce((SELECT r.audit_event_days FROM public.tenant_retention r WHERE r.tenant_id = p_tenant), 400));
  SELECT c.seq, c.first_id, c.last_id, c.ids INTO v_seq, v_first, v_last, v_ids
    FROM public.audit_checkpoints c
   WHERE c.tenant_id = p_tenant AND c.max_at::timestamptz < v_cutoff
     AND NOT EXISTS (SELECT 1 FROM public.audit_retention_log l WHERE l.tenant_id = p_tenant AND l.checkpoint_seq = c.seq)
   ORDER BY c.seq
   LIMIT 1;
  IF v_seq IS NULL THEN
    RETURN;
  END IF;
  PERFORM set_config('mcprt.audit_retention', 'on', true);
  DELETE FROM public.audit_events e
   WHERE e.tenant_id = p_tenant AND e.id BETWEEN v_first AND v_last AND e.id = ANY (v_ids) AND e.at < v_cutoff;
  GET DIAGNOSTICS v_n = ROW_COUNT;
  PERFORM set_config('mcprt.audit_retention', 'off', true);
  INSERT INTO public.audit_retention_log (tenant_id, checkpoint_seq, first_id, last_id, rows_deleted, cutoff)
  VALUES (p_tenant, v_seq, v_first, v_last, v_n, v_cutoff);
  checkpoint_seq := v_seq;
  rows_deleted := v_n;
  RETURN NEXT;
END;
$$;
--> statement-breakpoint
REVOKE ALL ON FUNCTION audit_retention_sweep(uuid) FROM PUBLIC;
--> statement-breakpoint
CREATE UNIQUE INDEX audit_retention_log_checkpoint ON audit_retention_log (tenant_id, checkpoint_seq);
