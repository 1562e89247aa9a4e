import { sql } from 'drizzle-orm';
import { TOOL_LISTING_MODES, type ApprovalRule } from '@mcprt/policy';
import {
  bigint,
  bigserial,
  boolean,
  check,
  customType,
  index,
  integer,
  jsonb,
  pgEnum,
  pgTable,
  primaryKey,
  text,
  timestamp,
  uniqueIndex,
  uuid,
} from 'drizzle-orm/pg-core';

/** Every table but `tenants` carries `tenant_id`; repositories scope every query by it, so no query can read another tenant. */

export interface TenantLimits {
  /** Calls a user may have queued or running at once before admission refuses more. */
  pendingCap: number;
  /** Per-user concurrency (leases in the worker, apps/worker/src/user-leases.ts) and call rate (the API). */
  perUserConcurrency: number;
  perUserRatePerMinute: number;
  /** Calls a whole tenant may start per minute at the API (absent: no tenant-wide rate). */
  tenantRatePerMinute?: number;
  /** Calls a user may make per minute to one upstream provider with their own credential (the worker; absent: no budget). */
  perUserUpstreamPerMinute?: number;
  /** Per-user exceptions to the limits above, by user id. */
  userOverrides?: Record<string, { perUserConcurrency?: number; perUserRatePerMinute?: number }>;
}

export const defaultLimits: TenantLimits = { pendingCap: 20, perUserConcurrency: 4, perUserRatePerMinute: 120 };

export const tenants = pgTable('tenants', {
  id: uuid('id').primaryKey().defaultRandom(),
  slug: text('slug').notNull().unique(),
  displayName: text('display_name').notNull(),
  /** The tenant's IdP: `oidc` (any issuer), later `google`, `github`. */
  idpKind: text('idp_kind').notNull().default('oidc'),
  idpIssuer: text('idp_issuer').notNull(),
  idpClientId: text('idp_client_id'),
  /** Sealed with the keyring (purpose `idp_client_secret`), never in clear. */
  idpClientSecretSealed: text('idp_client_secret_sealed'),
  idpScopes: text('idp_scopes')
    .array()
    .notNull()
    .default(sql`'{openid,email,profile}'::text[]`),
  enabledTools: text('enabled_tools')
    .array()
    .notNull()
    .default(sql`'{}'::text[]`),
  limits: jsonb('limits').$type<TenantLimits>().notNull().default(defaultLimits),
  /**
   * `builtin`: the tenant's own OAuth authorization server (oidc-provider, issuer `{PUBLIC_URL}/t/{slug}`)
   * issues the MCP tokens and federates login to the IdP above. `external`: the IdP issues them.
   * New tenants are `builtin` (migration 0006 changed the column default). Rows created
   * before keep the mode they have (0004 gave them `external`).
   */
  authMode: text('auth_mode', { enum: ['builtin', 'external'] })
    .notNull()
    .default('builtin'),
  /** GitHub-kind IdP only: its REST API base (identity from `GET {base}/user`); default https://api.github.com. */
  idpApiBase: text('idp_api_base'),
  /**
   * Providers a signed-in user can connect besides the login IdP, by provider name
   * (`google`, `github`, …): kind, endpoints, our client there (secret sealed, purpose `upstream_client_secret`), scopes.
   */
  upstreams: jsonb('upstreams').$type<Record<string, UpstreamSettings>>().notNull().default({}),
  createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  /** The tenant's own Scavio API key for web_search, sealed with the keyring (purpose `scavio_api_key`); null: the operator's key. */
  scavioKeySealed: text('scavio_key_sealed'),
  /**
   * Enterprise IdPs the tenant's authorization server accepts ID-JAGs from (the MCP
   * enterprise-managed-authorization extension): issuer, JWKS URI, and which of this tenant's OAuth
   * clients may redeem them. Empty: the grant is refused.
   */
  enterpriseIdps: jsonb('enterprise_idps').$type<EnterpriseIdp[]>().notNull().default([]),
  /**
   * What `tools/list` shows a caller: `allowed` (default) only the tools its token may call;
   * `all_with_hints` also the others, each marked with the scope a new sign-in would grant.
   */
  toolListing: text('tool_listing', { enum: TOOL_LISTING_MODES }).notNull().default('allowed'),
  /** Calls that wait for a person's approval before they run (`approvalRulesSchema` in the policy package; first match wins). */
  approvalRules: jsonb('approval_rules').$type<ApprovalRule[]>().notNull().default([]),
});

/** An enterprise IdP trusted for ID-JAGs (`tenant trust-idp`; validated by `enterpriseIdpSchema` in packages/identity). */
export interface EnterpriseIdp {
  issuer: string;
  jwksUri: string;
  /** Client ids at this tenant's authorization server that may redeem this IdP's ID-JAGs. */
  clientIds: string[];
}

/** An upstream OAuth provider of a tenant: its login IdP or a provider users connect for tools. */
export interface UpstreamSettings {
  /** `oidc`: discovery at `issuer`; `google`: OIDC + offline access; `github`: OAuth 2 at `issuer` (web base), identity from `apiBase`. */
  kind: 'oidc' | 'google' | 'github';
  issuer: string;
  apiBase?: string | undefined;
  clientId: string;
  clientSecretSealed: string;
  scopes: string[];
}

export const users = pgTable(
  'users',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    issuer: text('issuer').notNull(),
    subject: text('subject').notNull(),
    email: text('email'),
    displayName: text('display_name'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('users_tenant_issuer_subject').on(t.tenantId, t.issuer, t.subject)],
);

export const credentialStatus = pgEnum('credential_status', ['active', 'reauth_required', 'revoked']);

export const credentials = pgTable(
  'credentials',
  {
    id: uuid('id').primaryKey().defaultRandom(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    /** Upstream provider the token is for: `idp` (the tenant's IdP), `google`, `github`. */
    provider: text('provider').notNull(),
    accessTokenSealed: text('access_token_sealed').notNull(),
    refreshTokenSealed: text('refresh_token_sealed'),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    scopes: text('scopes')
      .array()
      .notNull()
      .default(sql`'{}'::text[]`),
    /** Key id the tokens are sealed under, so `keys rotate` finds what to re-seal without decrypting. */
    keyId: text('key_id').notNull(),
    /** Optimistic concurrency: every write checks and bumps it. */
    version: integer('version').notNull().default(1),
    status: credentialStatus('status').notNull().default('active'),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    updatedAt: timestamp('updated_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [uniqueIndex('credentials_tenant_user_provider').on(t.tenantId, t.userId, t.provider), index('credentials_key_id').on(t.keyId)],
);

export const auditEvents = pgTable(
  'audit_events',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id), // no cascade: audit history outlives nothing silently
    userId: uuid('user_id'),
    clientId: text('client_id'),
    callId: text('call_id'),
    tool: text('tool'),
    /** What happened: `tool_call.accepted`, `tool_call.succeeded`, `tool_call.failed`, `credential.resealed`, … */
    action: text('action').notNull(),
    decision: text('decision', { enum: ['allow', 'deny', 'info'] }).notNull(),
    reason: text('reason'),
    requestId: text('request_id'),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    /** The call's arguments as stored in tool_calls (sensitive fields "[redacted]"), on `tool_call.accepted` rows. */
    arguments: jsonb('arguments'),
  },
  (t) => [
    index('audit_tenant_user_at').on(t.tenantId, t.userId, t.at),
    index('audit_call').on(t.tenantId, t.callId),
    // A tenant's rows in id order (migration 0019): where its unsealed rows start (the checkpoint-lag
    // gauge, the stale-row alarm, the checkpointer's sealing read) in a few pages however long the tenant
    // was idle, instead of a scan of every row since, and its history pages newest first.
    index('audit_tenant_id').on(t.tenantId, t.id),
    // Dated by the database's clock (migration 0010, NOT VALID there: rows already present are not re-checked).
    check('audit_events_at_dated_by_database', sql`${t.at} >= '1970-01-01T00:00:00Z'::timestamptz AND ${t.at} <= now()`),
    // Ids come from the sequence: none above what it has handed out, none <= 0 (migration 0010).
    check(
      'audit_events_id_from_sequence',
      sql`${t.id} > 0 AND ${t.id} <= coalesce(pg_catalog.pg_sequence_last_value('public.audit_events_id_seq'::regclass), 0)`,
    ),
  ],
);

/**
 * oidc-provider's storage, one row per model instance, scoped by tenant. `id` (and the
 * grant id, uid and user code it is found by) are SHA-256 hashes of the provider's values, so a row
 * never holds a usable code or token id; `payload` is the provider's JSON sealed with the keyring,
 * bound to (tenant, model, hashed id). Rows past `expires_at` are swept.
 */
export const oidcStore = pgTable(
  'oidc_store',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    model: text('model').notNull(),
    id: text('id').notNull(),
    grantId: text('grant_id'),
    /** Hash of the account (our user id) the row belongs to, for the account page's list of grants. */
    accountId: text('account_id'),
    /**
     * Hash of the OAuth client the row belongs to (grants, codes, tokens, registration access tokens),
     * so a client's rows are found and counted without opening payloads. Null on rows written before
     * migration 0018 (opened instead; they expire within the grant lifetime) and on rows of no client.
     */
    clientId: text('client_id'),
    uid: text('uid'),
    userCode: text('user_code'),
    payload: text('payload').notNull(),
    expiresAt: timestamp('expires_at', { withTimezone: true }),
    consumedAt: timestamp('consumed_at', { withTimezone: true }),
  },
  (t) => [
    primaryKey({ columns: [t.tenantId, t.model, t.id] }),
    index('oidc_store_grant').on(t.tenantId, t.grantId),
    index('oidc_store_account').on(t.tenantId, t.accountId, t.model),
    index('oidc_store_client').on(t.tenantId, t.clientId, t.model),
    index('oidc_store_uid').on(t.tenantId, t.uid),
    index('oidc_store_expires').on(t.expiresAt),
  ],
);

/** A built-in authorization server's signing keys: private JWK sealed with the keyring. */
export const tenantSigningKeys = pgTable(
  'tenant_signing_keys',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    kid: text('kid').notNull(),
    alg: text('alg').notNull(),
    privateJwkSealed: text('private_jwk_sealed').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Set when a newer key takes over signing; the key still verifies until its tokens have expired. */
    retiredAt: timestamp('retired_at', { withTimezone: true }),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.kid] })],
);

// ---- History APIs, tenant API keys, a verifiable audit trail, retention (docs/audit.md) ----

const bytea = customType<{ data: Buffer }>({ dataType: () => 'bytea' });

/**
 * A tenant's back-office API keys (`pnpm cli tenant api-key create`). The key is shown once as
 * `mcprt_ak_<id>_<secret>`; only SHA-256 of the secret (256 random bits, so a fast hash is enough) is stored.
 */
export const tenantApiKeys = pgTable(
  'tenant_api_keys',
  {
    /** Public part of the key, `ak` + 16 base32 characters: what `list` and the audit show. */
    id: text('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    name: text('name').notNull(),
    secretHash: text('secret_hash').notNull(),
    scopes: text('scopes').array().notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    /** Updated at most once a minute per key (every use is in the audit anyway). */
    lastUsedAt: timestamp('last_used_at', { withTimezone: true }),
    revokedAt: timestamp('revoked_at', { withTimezone: true }),
  },
  (t) => [index('tenant_api_keys_tenant').on(t.tenantId)],
);

/**
 * Sealed, signed digests of the audit (CloudTrail-like, docs/audit.md): checkpoint `seq` covers the
 * tenant's audit rows with id in (previous last_id, last_id], in id order. Append-only for the app role.
 */
export const auditCheckpoints = pgTable(
  'audit_checkpoints',
  {
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id),
    seq: integer('seq').notNull(),
    firstId: bigint('first_id', { mode: 'number' }).notNull(),
    lastId: bigint('last_id', { mode: 'number' }).notNull(),
    rowCount: integer('row_count').notNull(),
    minAt: text('min_at').notNull(),
    maxAt: text('max_at').notNull(),
    /** Hex SHA-256 of the rows' leaf hashes concatenated in id order. */
    rowsHash: text('rows_hash').notNull(),
    prevHash: text('prev_hash').notNull(),
    /** Hex SHA-256 of the canonical checkpoint payload; the next checkpoint's prev_hash. */
    hash: text('hash').notNull(),
    keyId: text('key_id').notNull(),
    /** Ed25519 over the canonical payload, base64url. */
    signature: text('signature').notNull(),
    /** The sealed ids and their 32-byte leaf hashes, so a verifier can name the row that differs. */
    ids: bigint('ids', { mode: 'number' }).array().notNull(),
    leaves: bytea('leaves').notNull(),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
  },
  (t) => [primaryKey({ columns: [t.tenantId, t.seq] })],
);

/**
 * Per-tenant retention (defaults in docs/audit.md when a tenant has no row). Positive days only; the
 * audit retention may not go under the floor (trigger), and every change writes an audit row (trigger,
 * migration 0009).
 */
export const tenantRetention = pgTable(
  'tenant_retention',
  {
    tenantId: uuid('tenant_id')
      .primaryKey()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    callResultDays: integer('call_result_days').notNull().default(30),
    auditEventDays: integer('audit_event_days').notNull().default(400),
  },
  (t) => [check('tenant_retention_days_positive', sql`${t.auditEventDays} > 0 AND ${t.callResultDays} > 0`)],
);

/** The owner's floor under every tenant's audit retention: one row; the app role may only read it (migration 0009). */
export const auditRetentionFloor = pgTable(
  'audit_retention_floor',
  {
    id: boolean('id').primaryKey().default(true),
    auditEventDays: integer('audit_event_days').notNull(),
  },
  (t) => [check('audit_retention_floor_id_check', sql`${t.id}`), check('audit_retention_floor_audit_event_days_check', sql`${t.auditEventDays} > 0`)],
);

/** What the audit retention function removed: one row per checkpoint whose rows it deleted. Append-only; written only by the sweep. */
export const auditRetentionLog = pgTable(
  'audit_retention_log',
  {
    id: bigserial('id', { mode: 'number' }).primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id),
    checkpointSeq: integer('checkpoint_seq').notNull(),
    firstId: bigint('first_id', { mode: 'number' }).notNull(),
    lastId: bigint('last_id', { mode: 'number' }).notNull(),
    rowsDeleted: integer('rows_deleted').notNull(),
    cutoff: timestamp('cutoff', { withTimezone: true }).notNull(),
    at: timestamp('at', { withTimezone: true }).notNull().defaultNow(),
    /** The retention (days) and floor the sweep applied; null on rows written before migration 0009. */
    auditEventDays: integer('audit_event_days'),
    floorDays: integer('floor_days'),
  },
  (t) => [index('audit_retention_log_checkpoint').on(t.tenantId, t.checkpointSeq)],
);
