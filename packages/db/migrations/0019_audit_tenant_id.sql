-- A tenant's audit rows in id order: where its rows after its last checkpoint start is a descent of this
-- index (the checkpoint-lag gauge, the stale-row alarm, the checkpointer's sealing read), however many
-- rows other tenants wrote since. Costs one more index entry per audit insert: about 2 % of the insert
-- (docs/audit.md §4.2 "Checkpoint lag").
-- IF NOT EXISTS: on a large table an operator may build it beforehand with CREATE INDEX CONCURRENTLY
-- (docs/operations.md); this migration runs in a transaction and would hold audit inserts for the build.
CREATE INDEX IF NOT EXISTS "audit_tenant_id" ON "audit_events" USING btree ("tenant_id","id");
