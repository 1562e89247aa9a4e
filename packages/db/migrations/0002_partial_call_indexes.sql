DROP INDEX "tool_calls_user_status";--> statement-breakpoint
DROP INDEX "tool_calls_idempotency";--> statement-breakpoint
CREATE INDEX "tool_calls_user_pending" ON "tool_calls" USING btree ("tenant_id","user_id") WHERE status in ('queued', 'running');--> statement-breakpoint
CREATE UNIQUE INDEX "tool_calls_idempotency" ON "tool_calls" USING btree ("tenant_id","user_id","idempotency_key") WHERE idempotency_key is not null;