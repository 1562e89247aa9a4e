CREATE TABLE "oidc_store" (
	"tenant_id" uuid NOT NULL,
	"model" text NOT NULL,
	"id" text NOT NULL,
	"grant_id" text,
	"account_id" text,
	"uid" text,
	"user_code" text,
	"payload" text NOT NULL,
	"expires_at" timestamp with time zone,
	"consumed_at" timestamp with time zone,
	CONSTRAINT "oidc_store_tenant_id_model_id_pk" PRIMARY KEY("tenant_id","model","id")
);
--> statement-breakpoint
CREATE TABLE "tenant_signing_keys" (
	"tenant_id" uuid NOT NULL,
	"kid" text NOT NULL,
	"alg" text NOT NULL,
	"private_jwk_sealed" text NOT NULL,
	"created_at" timestamp with time zone DEFAULT now() NOT NULL,
	"retired_at" timestamp with time zone,
	CONSTRAINT "tenant_signing_keys_tenant_id_kid_pk" PRIMARY KEY("tenant_id","kid")
);
--> statement-breakpoint
ALTER TABLE "tenants" ADD COLUMN "auth_mode" text DEFAULT 'external' NOT NULL;--> statement-breakpoint
ALTER TABLE "oidc_store" ADD CONSTRAINT "oidc_store_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
ALTER TABLE "tenant_signing_keys" ADD CONSTRAINT "tenant_signing_keys_tenant_id_tenants_id_fk" FOREIGN KEY ("tenant_id") REFERENCES "public"."tenants"("id") ON DELETE cascade ON UPDATE no action;--> statement-breakpoint
CREATE INDEX "oidc_store_grant" ON "oidc_store" USING btree ("tenant_id","grant_id");--> statement-breakpoint
CREATE INDEX "oidc_store_account" ON "oidc_store" USING btree ("tenant_id","account_id","model");--> statement-breakpoint
CREATE INDEX "oidc_store_uid" ON "oidc_store" USING btree ("tenant_id","uid");--> statement-breakpoint
CREATE INDEX "oidc_store_expires" ON "oidc_store" USING btree ("expires_at");