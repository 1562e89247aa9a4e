import type { Tenant, TenantSecret } from '@mcprt/db';
import { sealContext, type SealContext } from './context.js';

/**
 * Every purpose the keyring seals for, in one registry: the seal context each value is bound to,
 * where sealed values of that purpose are held, and how a key rotation reaches them. Sealers build
 * their context here (`sealPurposes.x.context(…)`) and nowhere else; `keys rotate` walks this list.
 */

/** A tenant row's sealed secrets, as `keys rotate` reads them. */
export type TenantSealedFields = Pick<Tenant, 'id' | 'idpClientSecretSealed' | 'scavioKeySealed' | 'upstreams'>;

/** One sealed secret on a tenant row, with the context it is sealed under. */
export interface TenantSealedSecret {
  /** Which secret of the row (what the tenants repository's compare-and-set takes). */
  slot: TenantSecret;
  /** How reports name it: `idp_client_secret`, `scavio_api_key`, `upstream_client_secret:<provider>`. */
  name: string;
  sealed: string;
  context: SealContext;
}

/** Where a purpose's values are held, and how a rotation to a new active key reaches them. */
export type SealHolding =
  /** A column of the user's credential row: `keys rotate` re-seals the row (optimistic version check). */
  | { held: 'credential'; column: string }
  /** A column of the tenant row: `keys rotate` re-seals each value (compare-and-set on the sealed value). */
  | { held: 'tenant'; column: string; secretsOf(t: TenantSealedFields): TenantSealedSecret[] }
  /** A built-in authorization server's signing key row: `keys rotate` re-seals it in place (compare-and-set; same key, same kid). */
  | { held: 'signing_key'; column: string }
  /**
   * A built-in authorization server's stored row (clients, blocks, grants, sessions, tokens): `keys
   * rotate` re-seals every live one in place (compare-and-set on the sealed payload). Pre-registered
   * clients and blocked documents never expire, so none may be left under a key about to be removed.
   */
  | { held: 'oidc_store'; column: string }
  /**
   * Not re-sealed in place: the value is short-lived, or replaced by another command. `where` names
   * the holder, `rotation` why an old key may still be removed safely (once that has happened).
   */
  | { held: 'elsewhere'; where: string; rotation: string };

const COOKIE = 'a browser cookie of the sign-in or connect flow (10 minutes)';
const COOKIE_ROTATION = 'expires within minutes; a flow under way when the old key is removed starts again';

const tenantSecret = (tenantId: string, slotName: string, purpose: string): SealContext =>
  sealContext({ tenantId, userId: 'tenant', credentialId: slotName, purpose });

const secretIfSet = (sealed: string | null, slot: TenantSecret, context: SealContext): TenantSealedSecret[] =>
  sealed ? [{ slot, name: slot.kind, sealed, context }] : [];

// The tenant secrets' contexts, named before the registry so their `secretsOf` can use them.
const idpSecret = (tenantId: string) => tenantSecret(tenantId, 'idp', 'idp_client_secret');
const scavioKey = (tenantId: string) => tenantSecret(tenantId, 'scavio', 'scavio_api_key');
const upstreamSecret = (tenantId: string, provider: string) => tenantSecret(tenantId, `upstream:${provider}`, 'upstream_client_secret');

const upstreamSecretsOf = (t: TenantSealedFields): TenantSealedSecret[] =>
  Object.entries(t.upstreams)
    .sort(byName)
    .flatMap(([provider, u]) => {
      const slot: TenantSecret = { kind: 'upstream_client_secret', provider };
      return u.clientSecretSealed
        ? [{ slot, name: `upstream_client_secret:${provider}`, sealed: u.clientSecretSealed, context: upstreamSecret(t.id, provider) }]
        : [];
    });

const byName = ([a]: [string, unknown], [b]: [string, unknown]) => (a < b ? -1 : a > b ? 1 : 0);

export const sealPurposes = {
  /** A user's upstream access token (the credential vault). */
  access_token: {
    context: (c: { tenantId: string; userId: string; credentialId: string }) => sealContext({ ...c, purpose: 'access_token' }),
    holding: { held: 'credential', column: 'credentials.access_token_sealed' },
  },
  /** A user's upstream refresh token (the credential vault). */
  refresh_token: {
    context: (c: { tenantId: string; userId: string; credentialId: string }) => sealContext({ ...c, purpose: 'refresh_token' }),
    holding: { held: 'credential', column: 'credentials.refresh_token_sealed' },
  },
  /** The tenant's login IdP client secret (`tenant set-idp`; opened by federated login and token refresh). */
  idp_client_secret: {
    context: idpSecret,
    holding: {
      held: 'tenant',
      column: 'tenants.idp_client_secret_sealed',
      secretsOf: (t: TenantSealedFields) => secretIfSet(t.idpClientSecretSealed, { kind: 'idp_client_secret' }, idpSecret(t.id)),
    },
  },
  /** The tenant's own Scavio API key for web_search (`tenant set-scavio-key`). */
  scavio_api_key: {
    context: scavioKey,
    holding: {
      held: 'tenant',
      column: 'tenants.scavio_key_sealed',
      secretsOf: (t: TenantSealedFields) => secretIfSet(t.scavioKeySealed, { kind: 'scavio_api_key' }, scavioKey(t.id)),
    },
  },
  /** A connectable provider's client secret, bound to tenant and provider (`tenant set-upstream`). */
  upstream_client_secret: {
    context: upstreamSecret,
    holding: { held: 'tenant', column: 'tenants.upstreams[provider].clientSecretSealed', secretsOf: upstreamSecretsOf },
  },
  /** The real values of a call's sensitive arguments, bound to the call (the call id takes the credential slot). */
  call_arguments: {
    context: (c: { tenantId: string; userId: string; callId: string }) =>
      sealContext({ tenantId: c.tenantId, userId: c.userId, credentialId: c.callId, purpose: 'call_arguments' }),
    holding: {
      held: 'elsewhere',
      where: 'tool_calls.sealed_args',
      rotation: 'opened when the call runs; a call still queued when the old key is removed fails with seal_unknown_key',
    },
  },
  /** A call's input responses (MCP multi-round-trip requests), bound to the call like its sensitive arguments. */
  call_input_responses: {
    context: (c: { tenantId: string; userId: string; callId: string }) =>
      sealContext({ tenantId: c.tenantId, userId: c.userId, credentialId: c.callId, purpose: 'call_input_responses' }),
    holding: {
      held: 'elsewhere',
      where: 'tool_calls.sealed_input',
      rotation: 'opened when the call runs (or its task is answered); a call still open when the old key is removed fails with seal_unknown_key',
    },
  },
  /**
   * The `requestState` of an InputRequiredResult (MCP multi-round-trip requests), held by the client
   * between rounds: bound to tenant, user, OAuth client and tool (the arguments' hash, round and
   * expiry are inside), so it opens only for the same request of the same user through the same app.
   */
  request_state: {
    context: (c: { tenantId: string; userId: string; clientId: string | undefined; tool: string }) =>
      sealContext({ tenantId: c.tenantId, userId: c.userId, credentialId: JSON.stringify([c.clientId ?? null, c.tool]), purpose: 'request_state' }),
    holding: { held: 'elsewhere', where: 'the client, between rounds of one request (15 minutes)', rotation: 'expires; the request starts again' },
  },
  /** A built-in authorization server's private signing key. */
  as_signing_key: {
    context: (tenantId: string, kid: string) =>
      sealContext({ tenantId, userId: 'authorization-server', credentialId: `signing-key:${kid}`, purpose: 'as_signing_key' }),
    holding: { held: 'signing_key', column: 'tenant_signing_keys.private_jwk_sealed' },
  },
  /** A built-in authorization server's stored model (session, grant, code, token), bound to model and hashed id. */
  oidc_payload: {
    context: (tenantId: string, model: string, hashedId: string) =>
      sealContext({ tenantId, userId: 'oidc-provider', credentialId: `${model}:${hashedId}`, purpose: 'oidc_payload' }),
    holding: { held: 'oidc_store', column: 'oidc_store.payload' },
  },
  /** The "made for" binding of a connect link, bound to tenant and provider. */
  connect_link: {
    context: (tenantId: string, provider: string) => sealContext({ tenantId, userId: 'connect-link', credentialId: provider, purpose: 'connect_link' }),
    holding: { held: 'elsewhere', where: 'the `for` parameter of a connect link (30 minutes)', rotation: 'expires; a new link is made on the next call' },
  },
  /** The connect flow's transaction cookie, bound to tenant, account and provider. */
  upstream_connect: {
    context: (tenantId: string, userId: string, provider: string) =>
      sealContext({ tenantId, userId, credentialId: `connect:${provider}`, purpose: 'upstream_connect' }),
    holding: { held: 'elsewhere', where: COOKIE, rotation: COOKIE_ROTATION },
  },
  /** The connect page's sign-in transaction cookie. */
  connect_signin: {
    context: (tenantId: string) => sealContext({ tenantId, userId: 'connect-signin', credentialId: 'signin', purpose: 'connect_signin' }),
    holding: { held: 'elsewhere', where: COOKIE, rotation: COOKIE_ROTATION },
  },
  /** The connect page's "signed in as" cookie. */
  connect_signed_in: {
    context: (tenantId: string) => sealContext({ tenantId, userId: 'connect-who', credentialId: 'who', purpose: 'connect_signed_in' }),
    holding: { held: 'elsewhere', where: COOKIE, rotation: COOKIE_ROTATION },
  },
  /** The federated login's transaction cookie, bound to the authorization server's interaction. */
  upstream_login: {
    context: (tenantId: string, uid: string) => sealContext({ tenantId, userId: 'login', credentialId: uid, purpose: 'upstream_login' }),
    holding: { held: 'elsewhere', where: COOKIE, rotation: COOKIE_ROTATION },
  },
} as const satisfies Record<string, { context(...args: never[]): SealContext; holding: SealHolding }>;

export type SealPurpose = keyof typeof sealPurposes;

/** Every sealed secret a tenant row holds, in registry order (what `keys rotate` re-seals there). */
export function tenantSealedSecrets(t: TenantSealedFields): TenantSealedSecret[] {
  return Object.values(sealPurposes).flatMap((p) => (p.holding.held === 'tenant' ? p.holding.secretsOf(t) : []));
}

/** The purposes whose values sit in credential rows (what `keys rotate` re-seals there). */
export const credentialPurposes = (): SealPurpose[] =>
  (Object.keys(sealPurposes) as SealPurpose[]).filter((k) => sealPurposes[k].holding.held === 'credential');
