import type Router from '@koa/router';
import { sealPurposes } from '@mcprt/keyring';
import type { Tenant } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import { formatScopes, isScopeString, missingScopes, parseScopes, unionScopes } from '@mcprt/policy';
import { credentialVault, openConnectLink, upstreamOf, type CredentialVault, type ResolvedUpstream, type UpstreamIdentity } from '@mcprt/providers';
import type { Middleware, ParameterizedContext } from 'koa';
import { z } from 'zod';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';
import { htmlErrors, loginIdp } from './mount.js';
import { esc, page, pageCsp } from './pages.js';
import type { AuthServers } from './provider.js';
import { clearFlowCookie, FLOW_TTL_MS, readFlowCookie, setFlowCookie, startFacts, toProvider, type FlowCookie, type UpstreamLogin } from './upstream.js';

type Ctx = ParameterizedContext<ApiState>;

/** A provider name in a path: `idp`, `github`, `google`, or another configured one. */
const PROVIDER = /^[a-z][a-z0-9_-]{0,31}$/;

const connectQuery = z.object({
  scopes: z
    .string()
    .max(2000)
    .refine((s) => isScopeString(s, { maxTokens: 30, maxTokenLength: 200 }), 'scopes must be space-separated OAuth scope tokens')
    .optional(),
  for: z.string().min(1).max(2000).optional(),
});
type ConnectQuery = z.infer<typeof connectQuery>;

const connectTx = z.object({ state: z.string(), nonce: z.string(), codeVerifier: z.string(), requested: z.array(z.string()) });
const signinTx = z.object({ state: z.string(), nonce: z.string(), codeVerifier: z.string(), userId: z.uuid(), next: z.string().startsWith('/t/') });
const signedInHere = z.object({ u: z.uuid(), exp: z.number() });

const refuse = (status: number, code: string, message: string) => new AppError(status === 404 ? 'not_found' : 'policy', code, message, { status });
const wrongUser = () =>
  refuse(403, 'connect_wrong_user', 'this link was made for another user; sign in as that user, or call the tool yourself for your own link');

/** The connect transaction: sealed to the account that started it, sent only to its provider's connect routes. */
const connectCookie = (t: Tenant, userId: string, provider: string): FlowCookie => ({
  name: `mcprt_connect_${t.slug}`,
  path: `/t/${t.slug}/connect/${provider}`,
  context: sealPurposes.upstream_connect.context(t.id, userId, provider),
});
/** A sign-in started here for a connect link: what the login callback must find, and where to come back to. */
const signinCookie = (t: Tenant): FlowCookie => ({
  name: `mcprt_connect_signin_${t.slug}`,
  path: `/t/${t.slug}/login`,
  context: sealPurposes.connect_signin.context(t.id),
});
/** Who signed in for a connect link (when the browser has no authorization-server session). */
const whoCookie = (t: Tenant): FlowCookie => ({
  name: `mcprt_connect_who_${t.slug}`,
  path: `/t/${t.slug}/connect`,
  context: sealPurposes.connect_signed_in.context(t.id),
});

interface Connect {
  r: ApiResources;
  servers: AuthServers;
  upstream: UpstreamLogin;
  vault: CredentialVault;
}

const builtinOnly: Middleware<ApiState> = async (ctx, next) => {
  if (required(ctx, 'tenant').authMode !== 'builtin') throw refuse(404, 'not_found', 'not found');
  await next();
};

const pageHeaders = (ctx: Ctx) => {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', pageCsp());
};

const callbackOf = (c: Connect, ctx: Ctx) => new URL(ctx.originalUrl, c.r.config.PUBLIC_URL);

function providerOf(ctx: Ctx, tenant: Tenant): ResolvedUpstream {
  const provider = String(ctx.params.provider);
  const u = PROVIDER.test(provider) ? upstreamOf(tenant, provider) : undefined;
  if (!u) throw refuse(404, 'provider_not_configured', `this tenant has no provider "${provider}" to connect`);
  return u;
}

/** The browser's account: its authorization-server session, else a sign-in made here for a connect link. */
async function accountOf(c: Connect, ctx: Ctx, tenant: Tenant): Promise<string | undefined> {
  const { provider } = await c.servers.get(tenant);
  const session = await provider.Session.get(ctx as never);
  if (session.accountId) return session.accountId;
  const w = readFlowCookie(ctx, c.r, whoCookie(tenant), signedInHere).value;
  return w && w.exp > Date.now() ? w.u : undefined;
}

function signedIn(accountId: string | undefined): string {
  if (!accountId) throw refuse(401, 'not_signed_in', 'sign in from your MCP app first, in this browser; then open this link again');
  return accountId;
}

/** The user a `for` link was made for (undefined: no link); refuses an expired or foreign one. */
function linkUser(c: Connect, tenant: Tenant, provider: string, q: ConnectQuery): string | undefined {
  if (q.for === undefined) return undefined;
  const link = openConnectLink(c.r.keyring, tenant.id, provider, q.for);
  if (link.ok) return link.userId;
  throw link.reason === 'expired'
    ? refuse(400, 'connect_link_expired', 'this link has expired; call the tool again for a new one')
    : refuse(400, 'connect_link_invalid', 'this link is not valid for this provider');
}

/**
 * No session in this browser (another browser did the OAuth flow, or the day-long session ended while
 * the app's refresh token lives on): sign in at the tenant's IdP first; the login callback checks it
 * is the link's user and comes back to the connect route.
 */
async function signInForLink(c: Connect, ctx: Ctx, tenant: Tenant, provider: string, q: ConnectQuery, userId: string): Promise<void> {
  const again = `/t/${tenant.slug}/connect/${provider}?${new URLSearchParams({ ...(q.scopes ? { scopes: q.scopes } : {}), for: q.for! }).toString()}`;
  const start = await c.upstream.start(loginIdp(tenant), `${c.r.config.PUBLIC_URL}/t/${tenant.slug}/login/callback`);
  setFlowCookie(ctx, c.r, signinCookie(tenant), { ...startFacts(start), userId, next: again });
  toProvider(ctx, start);
}

async function startConnect(c: Connect, ctx: Ctx): Promise<void> {
  const tenant = required(ctx, 'tenant');
  pageHeaders(ctx);
  const u = providerOf(ctx, tenant);
  const q = connectQuery.safeParse(ctx.query);
  if (!q.success) throw new AppError('validation', 'invalid_request', q.error.issues[0]?.message ?? 'invalid query', { status: 400 });
  const linkFor = linkUser(c, tenant, u.provider, q.data);
  const current = await accountOf(c, ctx, tenant);
  if (!current && linkFor) return signInForLink(c, ctx, tenant, u.provider, q.data, linkFor);
  const accountId = signedIn(current);
  const scope = required(ctx, 'scope');
  if (linkFor && linkFor !== accountId) {
    await scope.audit.append({
      userId: accountId,
      action: 'credential.connect_refused',
      decision: 'deny',
      reason: `connect_wrong_user provider=${u.provider}`,
      requestId: ctx.state.requestId,
    });
    throw wrongUser();
  }
  // Incremental authorization: ask for what the provider is configured with, what the user already
  // granted (a new token replaces the old one) and what the tool needs.
  const existing = await scope.credentials.get(accountId, u.provider);
  const requested = unionScopes(u.scopes, existing?.status === 'active' ? existing.scopes : [], parseScopes(q.data.scopes));
  const start = await c.upstream.start(u, `${c.r.config.PUBLIC_URL}/t/${tenant.slug}/connect/${u.provider}/callback`, requested);
  setFlowCookie(ctx, c.r, connectCookie(tenant, accountId, u.provider), { ...startFacts(start), requested });
  toProvider(ctx, start);
}

/** The tenant IdP's redirect after a sign-in started by `signInForLink`; any other login callback goes on. */
async function finishSignIn(c: Connect, ctx: Ctx, next: () => Promise<unknown>): Promise<unknown> {
  const tenant = required(ctx, 'tenant');
  const cookie = signinCookie(tenant);
  const t = readFlowCookie(ctx, c.r, cookie, signinTx).value;
  if (!t || t.state !== ctx.query.state) return next();
  pageHeaders(ctx);
  clearFlowCookie(ctx, cookie);
  const identity = await c.upstream.finish(loginIdp(tenant), callbackOf(c, ctx), t);
  const scope = required(ctx, 'scope');
  const user = await scope.users.bySubject(identity.issuer, identity.subject);
  if (!user || user.id !== t.userId) {
    await scope.audit.append({
      ...(user ? { userId: user.id } : {}),
      action: 'credential.connect_refused',
      decision: 'deny',
      reason: 'connect_wrong_user signed in as another user',
      requestId: ctx.state.requestId,
    });
    throw wrongUser();
  }
  // A fresh sign-in of the same person: keep its tokens, as the interaction login does.
  await c.vault.store(scope, user.id, 'idp', identity);
  setFlowCookie(ctx, c.r, whoCookie(tenant), { u: user.id, exp: Date.now() + FLOW_TTL_MS });
  ctx.status = 303;
  // Our own path, rebuilt from validated parts when the sign-in started (never a URL from the request).
  ctx.redirect(t.next);
}

/** Upgrading the login IdP's scopes: the new token must be the same person's, or alice's credential would hold bob's token. */
async function sameIdpAccount(ctx: Ctx, accountId: string, who: UpstreamIdentity): Promise<void> {
  const user = await required(ctx, 'scope').users.byId(accountId);
  if (!user || user.issuer !== who.issuer || user.subject !== who.subject)
    throw refuse(403, 'connect_identity_mismatch', 'you signed in at the identity provider as someone else; sign in as yourself');
}

async function finishConnect(c: Connect, ctx: Ctx): Promise<void> {
  const tenant = required(ctx, 'tenant');
  pageHeaders(ctx);
  const u = providerOf(ctx, tenant);
  const accountId = signedIn(await accountOf(c, ctx, tenant));
  const cookie = connectCookie(tenant, accountId, u.provider);
  const t = readFlowCookie(ctx, c.r, cookie, connectTx);
  if (!t.present) throw refuse(400, 'invalid_request', 'this connection was not started in this browser; open the link again');
  // Sealed to the account that started it: another signed-in user (or a swapped cookie) cannot finish it.
  if (!t.value) throw refuse(403, 'connect_wrong_user', 'this connection was started by another user; open the link again signed in as yourself');
  clearFlowCookie(ctx, cookie);
  const who = await c.upstream.finish(u, callbackOf(c, ctx), t.value);
  if (u.provider === 'idp') await sameIdpAccount(ctx, accountId, who);
  const scope = required(ctx, 'scope');
  await c.vault.store(scope, accountId, u.provider, who);
  await scope.audit.append({
    userId: accountId,
    action: 'credential.connected',
    decision: 'info',
    reason: `provider=${u.provider} scopes=${formatScopes(who.scopes)}`.slice(0, 500),
    requestId: ctx.state.requestId,
  });
  // A broader grant covers a narrower request (`gmail.modify` covers `gmail.readonly`): not "missing".
  ctx.type = 'html';
  ctx.body = connectedPage(u.provider, who.scopes, missingScopes(u.provider, who.scopes, t.value.requested));
}

const codes = (scopes: readonly string[]) => scopes.map((s) => `<code>${esc(s)}</code>`).join(' ');

function connectedPage(provider: string, granted: readonly string[], missing: readonly string[]): string {
  return page(
    'Connected',
    `<h1 data-connected="${esc(provider)}">${esc(provider)} is connected</h1>
<p>Granted: ${codes(granted) || 'no scopes'}</p>
${missing.length ? `<p>Not granted: ${codes(missing)}. Tools that need them will ask again.</p>` : ''}
<p>You can close this tab and go back to your app.</p>`,
  );
}

/**
 * Connecting another provider, or granting one more scopes:
 * `GET /t/{slug}/connect/{provider}?scopes=…[&for=…]` sends the signed-in user (the tenant
 * authorization server's session) to the provider with code + PKCE + state (+ nonce for OIDC), and
 * `…/connect/{provider}/callback` stores the new tokens sealed in `credentials` for (tenant, user,
 * provider) with the scopes the provider granted.
 *
 * Who completes it must be who it was made for: `for` (sealed, 30 min) names the user a tool call's
 * link was made for and must equal the session's account; the transaction cookie is sealed to the
 * session's account, so a callback in a browser signed in as anyone else does not open it. For the
 * login IdP (`idp`) the provider's subject must also be the user's own. Neither route redirects
 * anywhere but to the tenant's configured provider, and the callback renders a page (no return URL:
 * nothing to turn into an open redirect).
 */
export function mountConnect(router: Router<ApiState>, r: ApiResources, servers: AuthServers, upstream: UpstreamLogin): void {
  const tenantOf = resolveTenant(r.tenants, r.db.db);
  const c: Connect = { r, servers, upstream, vault: credentialVault(r.keyring) };
  router.get('/t/:tenant/connect/:provider', htmlErrors, tenantOf, builtinOnly, (ctx) => startConnect(c, ctx));
  // Registered before the interaction login callback (mount.ts), which gets every request that is not one of these.
  router.get('/t/:tenant/login/callback', htmlErrors, tenantOf, builtinOnly, (ctx, next) => finishSignIn(c, ctx, next));
  router.get('/t/:tenant/connect/:provider/callback', htmlErrors, tenantOf, builtinOnly, (ctx) => finishConnect(c, ctx));
}
