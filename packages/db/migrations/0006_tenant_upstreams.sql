ALTER TABLE "tenants" ADD COLUMN "idp_api_base" text;--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "upstreams" jsonb DEFAULT '{}'::jsonb NOT NULL;