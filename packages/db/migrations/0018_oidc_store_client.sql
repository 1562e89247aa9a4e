ALTER TABLE "oidc_store" ADD COLUMN "client_id" text;--> statement-breakpoint
CREATE INDEX "oidc_store_client" ON "oidc_store" USING btree ("tenant_id","client_id","model");