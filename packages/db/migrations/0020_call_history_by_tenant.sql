-- A tenant's calls in creation order (the history's tenant-wide pages, the retention sweep): a descent of
-- this index visits only that tenant's rows. tool_calls_created (created_at, id, tenant_id) made them walk
-- every tenant's calls back in time and filter: an idle tenant's page read all calls made since its last.
-- Led by the expression tenant_id::text, not the column, so that the hot path's statements
-- (`tenant_id = …`) cannot choose it: an index led by tenant_id misled the planner into scanning a
-- tenant's every row per final write before the table's first ANALYZE (packages/calls/src/schema.ts).
-- Replaces tool_calls_created: one index for one, so a call writes no more index entries than before.
-- IF [NOT] EXISTS: on a large table an operator may build it beforehand with CREATE INDEX CONCURRENTLY
-- (docs/operations.md); this migration runs in a transaction and would hold call inserts for the build.
DROP INDEX IF EXISTS "tool_calls_created";--> statement-breakpoint
CREATE INDEX IF NOT EXISTS "tool_calls_tenant_created" ON "tool_calls" USING btree (("tenant_id"::text),"created_at","id");
