ALTER TABLE "tool_calls" ADD COLUMN "args_hash" text;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD COLUMN "sealed_args" text;