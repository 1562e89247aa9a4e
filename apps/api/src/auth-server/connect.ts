import type Router from '@koa/router';
import { credentialVault, openConnectLink, upstreamOf } from '@mcprt/providers';
import { open, seal, sealPurposes } from '@mcprt/keyring';
import type { Tenant } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import { missingScopes } from '@mcprt/policy';
import type { Middleware, ParameterizedContext } from 'koa';
import { z } from 'zod';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';
import { htmlErrors, loginIdp } from './mount.js';
import { esc, page, pageCsp } from './pages.js';
import type { AuthServers } from './provider.js';
import type { UpstreamLogin } from './upstream.js';

/** A provider name in a path: `idp`, `github`, `google`, or another configured one. */
const PROVIDER = /^[a-z][a-z0-9_-]{0,31}$/;
/** RFC 6749 §3.3 scope tokens (NQCHAR), space-separated; bounded. */
const SCOPES = /^[\x21\x23-\x5b\x5d-\x7e]{1,200}( [\x21\x23-\x5b\x5d-\x7e]{1,200}){0,29}$/;

const connectQuery = z.object({
  scopes: z.string().max(2000).regex(SCOPES, 'scopes must be space-separated OAuth scope tokens').optional(),
  for: z.string().min(1).max(2000).optional(),
});

const tx = z.object({ state: z.string(), nonce: z.string(), codeVerifier: z.string(), requested: z.array(z.string()) });
const signinTx = z.object({ state: z.string(), nonce: z.string(), codeVerifier: z.string(), userId: z.uuid(), next: z.string().startsWith('/t/') });
const who = z.object({ u: z.uuid(), exp: z.number() });

const refuse = (status: number, code: string, message: string) => new AppError(status === 404 ? 'not_found' : 'policy', code, message, { status });

/**
 * Connecting another provider, or granting one more scopes (issue 8 §8):
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
  const vault = credentialVault(r.keyring);
  const cookieName = (slug: string) => `mcprt_connect_${slug}`;
  const callbackUrl = (slug: string, provider: string) => `${r.config.PUBLIC_URL}/t/${slug}/connect/${provider}/callback`;
  const txContext = sealPurposes.upstream_connect.context;
  const secure = r.config.PUBLIC_URL.startsWith('https://');
  const loginCallbackUrl = (slug: string) => `${r.config.PUBLIC_URL}/t/${slug}/login/callback`;
  const signinCookie = (slug: string) => `mcprt_connect_signin_${slug}`;
  const whoCookie = (slug: string) => `mcprt_connect_who_${slug}`;
  const signinContext = sealPurposes.connect_signin.context;
  const whoContext = sealPurposes.connect_signed_in.context;

  const builtinOnly: Middleware<ApiState> = async (ctx, next) => {
    if (required(ctx, 'tenant').authMode !== 'builtin') throw refuse(404, 'not_found', 'not found');
    await next();
  };

  const headers = (ctx: ParameterizedContext<ApiState>) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Content-Security-Policy', pageCsp());
  };

  const resolve = (ctx: ParameterizedContext<ApiState>, tenant: Tenant) => {
    const provider = String(ctx.params.provider);
    const u = PROVIDER.test(provider) ? upstreamOf(tenant, provider) : undefined;
    if (!u) throw refuse(404, 'provider_not_configured', `this tenant has no provider "${provider}" to connect`);
    return u;
  };

  /** The browser's account: its authorization-server session, else a sign-in made here for a connect link (10 min). */
  const accountOf = async (ctx: ParameterizedContext<ApiState>, tenant: Tenant): Promise<string | undefined> => {
    const { provider } = await servers.get(tenant);
    const session = await provider.Session.get(ctx as never);
    if (session.accountId) return session.accountId;
    const proof = ctx.cookies.get(whoCookie(tenant.slug), { signed: true });
    if (!proof) return undefined;
    try {
      const w = who.parse(JSON.parse(open(r.keyring, proof, whoContext(tenant.id))));
      return w.exp > Date.now() ? w.u : undefined;
    } catch {
      return undefined;
    }
  };
  const signedIn = async (ctx: ParameterizedContext<ApiState>, tenant: Tenant): Promise<string> => {
    const accountId = await accountOf(ctx, tenant);
    if (!accountId) throw refuse(401, 'not_signed_in', 'sign in from your MCP app first, in this browser; then open this link again');
    return accountId;
  };

  router.get('/t/:tenant/connect/:provider', htmlErrors, tenantOf, builtinOnly, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    headers(ctx);
    const u = resolve(ctx, tenant);
    const q = connectQuery.safeParse(ctx.query);
    if (!q.success) throw new AppError('validation', 'invalid_request', q.error.issues[0]?.message ?? 'invalid query', { status: 400 });
    const link = q.data.for === undefined ? undefined : openConnectLink(r.keyring, tenant.id, u.provider, q.data.for);
    if (link && !link.ok) {
      throw link.reason === 'expired'
        ? refuse(400, 'connect_link_expired', 'this link has expired; call the tool again for a new one')
        : refuse(400, 'connect_link_invalid', 'this link is not valid for this provider');
    }
    const current = await accountOf(ctx, tenant);
    if (!current && link?.ok) {
      // No session in this browser (another browser did the OAuth flow, or the day-long session
      // ended while the app's refresh token lives on): sign in at the tenant's IdP first; the login
      // callback checks it is the link's user and comes back here.
      const again = `/t/${tenant.slug}/connect/${u.provider}?${new URLSearchParams({ ...(q.data.scopes ? { scopes: q.data.scopes } : {}), for: q.data.for! }).toString()}`;
      const start = await upstream.start(loginIdp(tenant), loginCallbackUrl(tenant.slug));
      const value = JSON.stringify({ state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier, userId: link.userId, next: again });
      ctx.cookies.set(signinCookie(tenant.slug), seal(r.keyring, value, signinContext(tenant.id)), {
        path: `/t/${tenant.slug}/login`,
        httpOnly: true,
        sameSite: 'lax',
        signed: true,
        secure,
        maxAge: 600_000,
      });
      ctx.status = 303;
      ctx.redirect(start.url);
      return;
    }
    const accountId = await signedIn(ctx, tenant);
    if (link?.ok) {
      if (link.userId !== accountId) {
        await required(ctx, 'scope').audit.append({
          userId: accountId,
          action: 'credential.connect_refused',
          decision: 'deny',
          reason: `connect_wrong_user provider=${u.provider}`,
          requestId: ctx.state.requestId,
        });
        throw refuse(403, 'connect_wrong_user', 'this link was made for another user; sign in as that user, or call the tool yourself for your own link');
      }
    }
    // Incremental authorization: ask for what the provider is configured with, what the user already
    // granted (a new token replaces the old one) and what the tool needs.
    const existing = await required(ctx, 'scope').credentials.get(accountId, u.provider);
    const asked = q.data.scopes ? q.data.scopes.split(' ') : [];
    const requested = [...new Set([...u.scopes, ...(existing?.status === 'active' ? existing.scopes : []), ...asked])];
    const start = await upstream.start(u, callbackUrl(tenant.slug, u.provider), requested);
    const value = JSON.stringify({ state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier, requested });
    ctx.cookies.set(cookieName(tenant.slug), seal(r.keyring, value, txContext(tenant.id, accountId, u.provider)), {
      path: `/t/${tenant.slug}/connect/${u.provider}`,
      httpOnly: true,
      sameSite: 'lax',
      signed: true,
      secure,
      maxAge: 600_000,
    });
    ctx.status = 303;
    ctx.redirect(start.url);
  });

  // The tenant IdP's redirect after a sign-in started above. Registered before the interaction
  // login callback (mount.ts), which gets every request that is not one of these.
  router.get('/t/:tenant/login/callback', htmlErrors, tenantOf, builtinOnly, async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const sealed = ctx.cookies.get(signinCookie(tenant.slug), { signed: true });
    let t;
    try {
      t = sealed ? signinTx.parse(JSON.parse(open(r.keyring, sealed, signinContext(tenant.id)))) : undefined;
    } catch {
      t = undefined;
    }
    if (!t || t.state !== ctx.query.state) return next();
    headers(ctx);
    ctx.cookies.set(signinCookie(tenant.slug), null, { path: `/t/${tenant.slug}/login` });
    const idp = loginIdp(tenant);
    const identity = await upstream.finish(idp, new URL(ctx.originalUrl, r.config.PUBLIC_URL), t);
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
      throw refuse(403, 'connect_wrong_user', 'this link was made for another user; sign in as that user, or call the tool yourself for your own link');
    }
    // A fresh sign-in of the same person: keep its tokens, as the interaction login does.
    await vault.store(scope, user.id, 'idp', {
      accessToken: identity.accessToken,
      refreshToken: identity.refreshToken ?? null,
      expiresAt: identity.expiresAt ?? null,
      scopes: identity.scopes,
    });
    ctx.cookies.set(whoCookie(tenant.slug), seal(r.keyring, JSON.stringify({ u: user.id, exp: Date.now() + 600_000 }), whoContext(tenant.id)), {
      path: `/t/${tenant.slug}/connect`,
      httpOnly: true,
      sameSite: 'lax',
      signed: true,
      secure,
      maxAge: 600_000,
    });
    ctx.status = 303;
    // Our own path, rebuilt from validated parts when the sign-in started (never a URL from the request).
    ctx.redirect(t.next);
  });

  router.get('/t/:tenant/connect/:provider/callback', htmlErrors, tenantOf, builtinOnly, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    headers(ctx);
    const u = resolve(ctx, tenant);
    const accountId = await signedIn(ctx, tenant);
    const sealed = ctx.cookies.get(cookieName(tenant.slug), { signed: true });
    if (!sealed) throw refuse(400, 'invalid_request', 'this connection was not started in this browser; open the link again');
    let t;
    try {
      t = tx.parse(JSON.parse(open(r.keyring, sealed, txContext(tenant.id, accountId, u.provider))));
    } catch {
      // Sealed to the account that started it: another signed-in user (or a swapped cookie) cannot finish it.
      throw refuse(403, 'connect_wrong_user', 'this connection was started by another user; open the link again signed in as yourself');
    }
    ctx.cookies.set(cookieName(tenant.slug), null, { path: `/t/${tenant.slug}/connect/${u.provider}` });
    const who = await upstream.finish(u, new URL(ctx.originalUrl, r.config.PUBLIC_URL), t);
    const scope = required(ctx, 'scope');
    if (u.provider === 'idp') {
      // Upgrading the login IdP's scopes: the new token must be the same person's, or alice's
      // credential would hold bob's token.
      const user = await scope.users.byId(accountId);
      if (!user || user.issuer !== who.issuer || user.subject !== who.subject)
        throw refuse(403, 'connect_identity_mismatch', 'you signed in at the identity provider as someone else; sign in as yourself');
    }
    await vault.store(scope, accountId, u.provider, {
      accessToken: who.accessToken,
      refreshToken: who.refreshToken ?? null,
      expiresAt: who.expiresAt ?? null,
      scopes: who.scopes,
    });
    await scope.audit.append({
      userId: accountId,
      action: 'credential.connected',
      decision: 'info',
      reason: `provider=${u.provider} scopes=${who.scopes.join(' ')}`.slice(0, 500),
      requestId: ctx.state.requestId,
    });
    // A broader grant covers a narrower request (`gmail.modify` ⊇ `gmail.readonly`): not "missing".
    const missing = missingScopes(u.provider, who.scopes, t.requested);
    ctx.type = 'html';
    ctx.body = page(
      'Connected',
      `<h1 data-connected="${esc(u.provider)}">${esc(u.provider)} is connected</h1>
<p>Granted: ${who.scopes.map((s) => `<code>${esc(s)}</code>`).join(' ') || 'no scopes'}</p>
${missing.length ? `<p>Not granted: ${missing.map((s) => `<code>${esc(s)}</code>`).join(' ')}. Tools that need them will ask again.</p>` : ''}
<p>You can close this tab and go back to your app.</p>`,
    );
  });
}
