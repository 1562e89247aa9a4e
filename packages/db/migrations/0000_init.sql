CREATE TYPE "public"."credential_status" AS ENUM('active', 'reauth_required', 'revoked');--> statement-breakpoint
CREATE TYPE "public"."tool_call_status" AS ENUM('queued', 'running', 'succeeded', 'failed', 'cancelled');--> statement-breakpoint
CREATE TABLE "audit_events" (
	"id" bigserial PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid,
	"client_id" text,
	"call_id" text,
	"tool" text,
	"action" text NOT NULL,
	"decision" text NOT NULL,
	"reason" text,
	"request_id" text,
	"at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "credentials" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"provider" text NOT NULL,
	"access_token_sealed" text NOT NULL,
	"refresh_token_sealed" text,
	"expires_at" timestamp with time zone,
	"scopes" text[] DEFAULT '{}'::text[] NOT NULL,
	"key_id" text NOT NULL,
	"version" integer DEFAULT 1 NOT NULL,
	"status" "credential_status" DEFAULT 'active' NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"updated_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
CREATE TABLE "tenants" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"slug" text NOT NULL,
	"display_name" text NOT NULL,
	"idp_kind" text DEFAULT 'oidc' NOT NULL,
	"idp_issuer" text NOT NULL,
	"idp_client_id" text,
	"idp_client_secret_sealed" text,
	"idp_scopes" text[] DEFAULT '{openid,email,profile}'::text[] NOT NULL,
	"enabled_tools" text[] DEFAULT '{}'::text[] NOT NULL,
	"limits" jsonb DEFAULT '{"pendingCap":20,"perUserConcurrency":4,"perUserRatePerMinute":120}'::jsonb NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	CONSTRAINT "tenants_slug_unique" UNIQUE("slug")
);
--> statement-breakpoint
CREATE TABLE "tool_calls" (
	"id" text PRIMARY KEY NOT NULL,
	"tenant_id" uuid NOT NULL,
	"user_id" uuid NOT NULL,
	"client_id" text,
	"tool" text NOT NULL,
	"arguments" jsonb NOT NULL,
	"status" "tool_call_status" DEFAULT 'queued' NOT NULL,
	"result" jsonb,
	"error" jsonb,
	"attempt" integer DEFAULT 0 NOT NULL,
	"idempotency_key" text,
	"request_id" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"started_at" timestamp with time zone,
	"finished_at" timestamp with time zone
);
--> statement-breakpoint
CREATE TABLE "users" (
	"id" uuid PRIMARY KEY DEFAULT gen_random_uuid() NOT NULL,
	"tenant_id" uuid NOT NULL,
	"issuer" text NOT NULL,
	"subject" text NOT NULL,
	"email" text,
	"display_name" text,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL
);
--> statement-breakpoint
ALTER TABLE "audit_events" ADD CONSTRAINT "audit_events_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE no action ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credentials" ADD CONSTRAINT "credentials_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "credentials" ADD CONSTRAINT "credentials_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tool_calls" ADD CONSTRAINT "tool_calls_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "users" ADD CONSTRAINT "users_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "audit_tenant_user_at" ON "audit_events" USING btree ("tenant_id","user_id","at");--> statement-breakpoint
CREATE INDEX "audit_call" ON "audit_events" USING btree ("tenant_id","call_id");--> statement-breakpoint
CREATE UNIQUE INDEX "credentials_tenant_user_provider" ON "credentials" USING btree ("tenant_id","user_id","provider");--> statement-breakpoint
CREATE INDEX "credentials_key_id" ON "credentials" USING btree ("key_id");--> statement-breakpoint
CREATE UNIQUE INDEX "tool_calls_idempotency" ON "tool_calls" USING btree ("tenant_id","user_id","idempotency_key");--> statement-breakpoint
CREATE INDEX "tool_calls_user_status" ON "tool_calls" USING btree ("tenant_id","user_id","status");--> statement-breakpoint
CREATE INDEX "tool_calls_queued_created" ON "tool_calls" USING btree ("created_at") WHERE status = 'queued';--> statement-breakpoint
CREATE UNIQUE INDEX "users_tenant_issuer_subject" ON "users" USING btree ("tenant_id","issuer","subject");