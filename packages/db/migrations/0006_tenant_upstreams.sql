ALTER TABLE "tenants" ADD COLUMN "idp_api_base" text;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "upstreams" jsonb DEFAULT '{}'::jsonb NOT NULL;--> statement-breakpoint
ALTER TABLE "tenants" ALTER COLUMN "auth_mode" SET DEFAULT 'builtin';