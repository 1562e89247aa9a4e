-- MCP multi-round-trip requests: a call recorded as a task waiting for its client's answers
-- (`awaiting_input`, used only by later statements: Postgres refuses a new enum value in the
-- transaction that adds it), and the answers sealed beside the row for the run.
ALTER TYPE "public"."tool_call_status" ADD VALUE 'awaiting_input' BEFORE 'succeeded';--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "sealed_input" text;