ALTER TABLE "audit_events" ADD COLUMN "arguments" jsonb;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "scavio_key_sealed" text;