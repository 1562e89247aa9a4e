-- Approval before a sensitive call runs: the tenant's rules, and on a call that needed approval who
-- may give it and until when. The new status `awaiting_approval` is added here and used only by later
-- statements (Postgres refuses a new enum value used in the transaction that adds it, and the
-- migrator runs in one transaction): no index or CHECK below names it.
ALTER TYPE "public"."tool_call_status" ADD VALUE 'awaiting_approval' BEFORE 'succeeded';--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "approval_rules" jsonb DEFAULT '[]'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "approver" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "approval_expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "tool_calls_awaiting_approval" ON "tool_calls" USING btree ("approval_expires_at") WHERE approval_expires_at is not null and finished_at is null;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_approver" CHECK ("approver" IN ('user', 'tenant') AND "approval_expires_at" IS NOT NULL OR "approver" IS NULL AND "approval_expires_at" IS NULL);
