-- A task waiting for its client's answers (`awaiting_input`) has a deadline, like a call waiting for
-- approval (APPROVAL_TTL_S); the worker's sweep fails it past that (`input_expired`), found by this index.
ALTER TABLE "tool_calls" ADD COLUMN "input_expires_at" timestamp with time zone;--> statement-breakpoint
CREATE INDEX "tool_calls_awaiting_input" ON "tool_calls" USING btree ("input_expires_at") WHERE input_expires_at is not null and finished_at is null;