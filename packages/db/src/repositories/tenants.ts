import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '../client.js';
import { defaultLimits, tenants, type EnterpriseIdp, type TenantLimits, type UpstreamSettings } from '../schema.js';

export type Tenant = typeof tenants.$inferSelect;

export interface NewTenant {
  slug: string;
  displayName: string;
  idpIssuer: string;
  idpKind?: string;
  idpClientId?: string | null;
  idpClientSecretSealed?: string | null;
  idpScopes?: string[];
  enabledTools: string[];
  limits?: Partial<TenantLimits>;
  authMode?: 'builtin' | 'external';
  toolListing?: Tenant['toolListing'];
  approvalRules?: Tenant['approvalRules'];
}

/** A secret a tenant row holds sealed with the keyring (`keys rotate` re-seals each). */
export type TenantSecret = { kind: 'idp_client_secret' } | { kind: 'scavio_api_key' } | { kind: 'upstream_client_secret'; provider: string };

/** Tenants are the one table not scoped by tenant: this repository is how a tenant is found. */
export function tenantsRepository(db: Executor) {
  return {
    ...enterpriseIdpRows(db),
    async create(t: NewTenant): Promise<Tenant> {
      const [row] = await db
        .insert(tenants)
        .values({ ...t, limits: { ...defaultLimits, ...t.limits } })
        .returning();
      return row!;
    },
    async bySlug(slug: string): Promise<Tenant | undefined> {
      return db.query.tenants.findFirst({ where: eq(tenants.slug, slug) });
    },
    async byId(id: string): Promise<Tenant | undefined> {
      return db.query.tenants.findFirst({ where: eq(tenants.id, id) });
    },
    async list(): Promise<Tenant[]> {
      return db.select().from(tenants).orderBy(tenants.slug);
    },
    /** What `tools/list` shows the tenant's callers (`TOOL_LISTING_MODES` in the policy package). */
    async setToolListing(id: string, toolListing: Tenant['toolListing']): Promise<void> {
      await db.update(tenants).set({ toolListing }).where(eq(tenants.id, id));
    },
    /** The calls that wait for a person's approval (validated by the caller with `approvalRulesSchema`). */
    async setApprovalRules(id: string, approvalRules: Tenant['approvalRules']): Promise<void> {
      await db.update(tenants).set({ approvalRules }).where(eq(tenants.id, id));
    },
    /** The tenant's IdP client for federated login; the secret arrives sealed (purpose `idp_client_secret`). */
    async setIdpClient(id: string, c: { clientId: string; clientSecretSealed: string; scopes?: string[] }): Promise<void> {
      await db
        .update(tenants)
        .set({ idpClientId: c.clientId, idpClientSecretSealed: c.clientSecretSealed, ...(c.scopes ? { idpScopes: c.scopes } : {}) })
        .where(eq(tenants.id, id));
    },
    /** The IdP's kind (`oidc`, `google`, `github`), and where it is. */
    async setIdpKind(id: string, c: { kind: 'oidc' | 'google' | 'github'; issuer?: string; apiBase?: string | null }): Promise<void> {
      await db
        .update(tenants)
        .set({ idpKind: c.kind, ...(c.issuer ? { idpIssuer: c.issuer } : {}), ...(c.apiBase !== undefined ? { idpApiBase: c.apiBase } : {}) })
        .where(eq(tenants.id, id));
    },
    /** A provider users can connect; its client secret arrives sealed (purpose `upstream_client_secret`). */
    async setUpstream(id: string, provider: string, settings: UpstreamSettings): Promise<void> {
      await db
        .update(tenants)
        .set({ upstreams: sql`${tenants.upstreams} || jsonb_build_object(${provider}::text, ${JSON.stringify(settings)}::jsonb)` })
        .where(eq(tenants.id, id));
    },
    async setIssuer(id: string, idpIssuer: string): Promise<void> {
      await db.update(tenants).set({ idpIssuer }).where(eq(tenants.id, id));
    },
    async setAuthMode(id: string, authMode: 'builtin' | 'external'): Promise<void> {
      await db.update(tenants).set({ authMode }).where(eq(tenants.id, id));
    },
    /** The tenant's own Scavio key for web_search, sealed (purpose `scavio_api_key`); null: back to the operator's key. */
    async setScavioKey(id: string, sealed: string | null): Promise<void> {
      await db.update(tenants).set({ scavioKeySealed: sealed }).where(eq(tenants.id, id));
    },
    /**
     * Replace one sealed secret of the tenant with `next` only if it is still `expected`
     * (compare-and-set: an operator's `tenant set-…` meanwhile wins). False: it changed, nothing written.
     */
    async replaceSealedSecret(id: string, which: TenantSecret, expected: string, next: string): Promise<boolean> {
      const q =
        which.kind === 'idp_client_secret'
          ? db
              .update(tenants)
              .set({ idpClientSecretSealed: next })
              .where(and(eq(tenants.id, id), eq(tenants.idpClientSecretSealed, expected)))
          : which.kind === 'scavio_api_key'
            ? db
                .update(tenants)
                .set({ scavioKeySealed: next })
                .where(and(eq(tenants.id, id), eq(tenants.scavioKeySealed, expected)))
            : db
                .update(tenants)
                .set({ upstreams: sql`jsonb_set(${tenants.upstreams}, array[${which.provider}::text, 'clientSecretSealed'], to_jsonb(${next}::text))` })
                .where(and(eq(tenants.id, id), sql`${tenants.upstreams} -> ${which.provider}::text ->> 'clientSecretSealed' = ${expected}::text`));
      return (await q.returning({ id: tenants.id })).length === 1;
    },
    async setEnabledTools(id: string, enabledTools: string[]): Promise<void> {
      await db.update(tenants).set({ enabledTools }).where(eq(tenants.id, id));
    },
    /** The tenant's limits, replaced whole (the caller validated them). */
    async setLimits(id: string, limits: TenantLimits): Promise<void> {
      await db.update(tenants).set({ limits }).where(eq(tenants.id, id));
    },
  };
}

/** The tenant's trusted enterprise IdPs (`tenant trust-idp`; a client deletion takes its id off them). */
function enterpriseIdpRows(db: Executor) {
  return {
    /** The list, the tenant row locked until the transaction ends (a read-modify-write of the list). */
    async enterpriseIdpsForUpdate(id: string): Promise<EnterpriseIdp[] | undefined> {
      const [row] = await db.select({ enterpriseIdps: tenants.enterpriseIdps }).from(tenants).where(eq(tenants.id, id)).for('update');
      return row?.enterpriseIdps;
    },
    async setEnterpriseIdps(id: string, enterpriseIdps: EnterpriseIdp[]): Promise<void> {
      await db.update(tenants).set({ enterpriseIdps }).where(eq(tenants.id, id));
    },
  };
}
