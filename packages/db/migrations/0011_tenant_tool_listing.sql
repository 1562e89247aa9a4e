-- What tools/list shows a caller: only the tools its token may call (allowed, the default), or the
-- others too, each with the scope a new sign-in would grant (all_with_hints).
ALTER TABLE "tenants" ADD COLUMN "tool_listing" text DEFAULT 'allowed' NOT NULL;--> statement-breakpoint
-- The database refuses any other value, whoever writes the row (the modes are defined once, in the policy package).
ALTER TABLE "tenants" ADD CONSTRAINT "tenants_tool_listing_mode" CHECK ("tool_listing" IN ('allowed', 'all_with_hints'));
