import { randomBytes, timingSafeEqual } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { credentialVault, upstreamOf, type ResolvedUpstream } from '@mcprt/providers';
import { open, seal, sealPurposes } from '@mcprt/keyring';
import type { Tenant } from '@mcprt/db';
import { AppError, isAppError } from '@mcprt/errors';
import type { Middleware, ParameterizedContext } from 'koa';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { z } from 'zod';
import { rateLimitClientKey } from '../http/client-address.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { isTenantSlug } from '../http/tenant-cache.js';
import type { ApiResources } from '../resources.js';
import { consentPage, errorPage, pageCsp } from './pages.js';
import type { AuthServers } from './provider.js';
import type { UpstreamLogin } from './upstream.js';

/** The provider's own endpoints under `/t/{slug}/` (everything else there is ours). */
const PROVIDER_PATH = /^\/t\/([^/]+)(\/(?:auth|token|reg|jwks|session\/end|\.well-known\/openid-configuration)(?:\/[^?]*)?)$/;

/** Dynamic client registrations per (tenant, client address) per minute, across all API replicas (Redis). */
export const REGISTRATIONS_PER_WINDOW = 20;
const REGISTRATION_WINDOW_MS = 60_000;

const notFound = () => new AppError('not_found', 'not_found', 'not found');
const badFlow = (message: string) => new AppError('validation', 'invalid_request', message, { status: 400 });

function requireBuiltin(tenant: Tenant): void {
  if (tenant.authMode !== 'builtin') throw notFound();
}

/** The tenant's login IdP (`tenant set-idp`), resolved; a tenant without one cannot sign anyone in. */
export function loginIdp(tenant: Tenant): ResolvedUpstream {
  const u = upstreamOf(tenant, 'idp');
  if (!u) throw new AppError('internal', 'idp_not_configured', "the tenant's identity provider client is not configured", { expose: true });
  return u;
}

/**
 * Browser routes answer errors as an HTML page (a person is looking at it), with the same status and
 * stable code the JSON error handler would give; unexpected errors go to the error handler (logged
 * once) first and are then rendered without their text.
 */
export const htmlErrors: Middleware<ApiState> = async (ctx, next) => {
  try {
    await next();
  } catch (e) {
    if (!isAppError(e) || !e.expose || e.status >= 500) {
      ctx.state.log.error({ err: e }, 'request failed');
      ctx.status = isAppError(e) && e.status >= 500 && e.expose ? e.status : 500;
      ctx.set('Content-Security-Policy', pageCsp());
      ctx.type = 'html';
      ctx.body = errorPage(
        isAppError(e) && e.expose ? e.code : 'internal_error',
        isAppError(e) && e.expose ? e.message : 'internal error',
        ctx.state.requestId,
      );
      return;
    }
    ctx.state.log.debug({ code: e.code, status: e.status }, 'request refused');
    ctx.status = e.status;
    ctx.set('Cache-Control', 'no-store');
    ctx.set('Content-Security-Policy', pageCsp());
    ctx.type = 'html';
    ctx.body = errorPage(e.code, e.message, ctx.state.requestId);
  }
};

/**
 * What the provider (a Koa app of its own, `proxy = true`) reads of the request's address: PUBLIC_URL's
 * host and protocol, and the client address the app decided under TRUST_PROXY. Whatever the client
 * sent in Host or X-Forwarded-* never reaches it, so no URL it publishes (discovery, redirects, the
 * logout form) is built from the request.
 */
export function asProviderRequest(ctx: ParameterizedContext<ApiState>, publicUrl: URL): void {
  const h = ctx.req.headers;
  h.host = publicUrl.host;
  h['x-forwarded-host'] = publicUrl.host;
  h['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1);
  h['x-forwarded-for'] = ctx.ip;
  delete h.forwarded;
}

/** Hand the request to the tenant's oidc-provider, mounted at `/t/{slug}` (no body parser in front). */
async function toProvider(ctx: ParameterizedContext<ApiState>, servers: AuthServers, tenant: Tenant, providerPath: string, publicUrl: URL): Promise<void> {
  const server = await servers.get(tenant);
  const search = ctx.querystring ? `?${ctx.querystring}` : '';
  asProviderRequest(ctx, publicUrl);
  // oidc-provider derives its mount path from originalUrl minus url (koa-mount / express convention).
  (ctx.req as { originalUrl?: string }).originalUrl = `/t/${tenant.slug}${providerPath}${search}`;
  ctx.req.url = `${providerPath}${search}`;
  ctx.respond = false;
  await server.callback(ctx.req, ctx.res);
}

/**
 * Mounts the built-in authorization servers (issue 8): the provider endpoints of every `builtin` tenant,
 * RFC 8414 / OIDC discovery at the root in path-insertion form, the login interaction federated to the
 * tenant's IdP, and the consent page.
 */
export function mountAuthServer(router: Router<ApiState>, r: ApiResources, servers: AuthServers, upstream: UpstreamLogin): Middleware<ApiState> {
  const tenantOf = resolveTenant(r.tenants, r.db.db);
  const vault = credentialVault(r.keyring);
  const publicUrl = new URL(r.config.PUBLIC_URL);

  // RFC 8414 §3.1 / OIDC discovery, path-inserted: the SDK client asks here first.
  const metadata: Middleware<ApiState> = async (ctx) => {
    const tenant = required(ctx, 'tenant');
    requireBuiltin(tenant);
    await toProvider(ctx, servers, tenant, '/.well-known/openid-configuration', publicUrl);
  };
  router.get('/.well-known/oauth-authorization-server/t/:tenant', tenantOf, metadata);
  router.get('/.well-known/openid-configuration/t/:tenant', tenantOf, metadata);

  const interactionCookie = (slug: string) => `mcprt_login_${slug}`;
  const csrfCookie = (slug: string) => `mcprt_csrf_${slug}`;
  const callbackUrl = (slug: string) => `${r.config.PUBLIC_URL}/t/${slug}/login/callback`;
  const loginContext = sealPurposes.upstream_login.context;
  const secureCookies = r.config.PUBLIC_URL.startsWith('https://');

  const details = async (ctx: ParameterizedContext<ApiState>, tenant: Tenant) => {
    const { provider } = await servers.get(tenant);
    asProviderRequest(ctx, publicUrl);
    try {
      return { provider, interaction: await provider.interactionDetails(ctx.req, ctx.res) };
    } catch {
      throw badFlow('this sign-in has expired or was started in another browser; start again from your app');
    }
  };

  const noStore = (ctx: ParameterizedContext<ApiState>) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
  };

  // The interaction: login (federated) first, then consent.
  router.get('/t/:tenant/interaction/:uid', htmlErrors, tenantOf, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    requireBuiltin(tenant);
    const { provider, interaction } = await details(ctx, tenant);
    if (interaction.uid !== ctx.params.uid) throw badFlow('this sign-in does not belong to this browser session');
    noStore(ctx);
    if (interaction.prompt.name === 'login') {
      const start = await upstream.start(loginIdp(tenant), callbackUrl(tenant.slug));
      const tx = JSON.stringify({ uid: interaction.uid, state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier });
      ctx.cookies.set(interactionCookie(tenant.slug), seal(r.keyring, tx, loginContext(tenant.id, interaction.uid)), {
        path: `/t/${tenant.slug}/login`,
        httpOnly: true,
        sameSite: 'lax',
        signed: true,
        secure: secureCookies,
        maxAge: 600_000,
      });
      ctx.status = 303;
      ctx.redirect(start.url);
      return;
    }
    if (interaction.prompt.name !== 'consent') throw badFlow(`unsupported step ${interaction.prompt.name}`);
    const clientId = z.string().parse(interaction.params.client_id);
    const client = await provider.Client.find(clientId);
    if (!client) throw badFlow('unknown client');
    const redirectUri = new URL(z.string().parse(interaction.params.redirect_uri));
    const missing = interaction.prompt.details as { missingOIDCScope?: string[]; missingResourceScopes?: Record<string, string[]> };
    const scopes = [
      ...new Set([...Object.values(missing.missingResourceScopes ?? {}).flat(), ...(missing.missingOIDCScope ?? []).filter((s) => s !== 'openid')]),
    ];
    const csrf = randomBytes(32).toString('base64url');
    ctx.cookies.set(csrfCookie(tenant.slug), csrf, {
      path: `/t/${tenant.slug}/interaction/${interaction.uid}`,
      httpOnly: true,
      sameSite: 'strict',
      signed: true,
      secure: secureCookies,
      maxAge: 600_000,
    });
    // A custom-scheme redirect (cursor://…) has no origin: allow its scheme.
    ctx.set('Content-Security-Policy', pageCsp([redirectUri.origin !== 'null' ? redirectUri.origin : redirectUri.protocol]));
    ctx.type = 'html';
    ctx.body = consentPage({
      tenantName: tenant.displayName,
      clientName: typeof client.clientName === 'string' && client.clientName ? client.clientName : clientId,
      clientId,
      redirectHost: redirectUri.host,
      scopes,
      action: `/t/${tenant.slug}/interaction/${interaction.uid}/consent`,
      csrf,
    });
  });

  const consentForm = z.object({ csrf: z.string().min(1).max(200), decision: z.enum(['allow', 'deny']) });
  router.post('/t/:tenant/interaction/:uid/consent', htmlErrors, tenantOf, bodyParser({ enableTypes: ['form'], formLimit: '8kb' }), async (ctx) => {
    const tenant = required(ctx, 'tenant');
    requireBuiltin(tenant);
    noStore(ctx);
    const form = consentForm.safeParse(ctx.request.body);
    const expected = ctx.cookies.get(csrfCookie(tenant.slug), { signed: true });
    if (!form.success || !expected || !safeEqual(form.data.csrf, expected)) {
      throw new AppError('policy', 'csrf_invalid', 'the consent form is missing its CSRF token or it does not match; reload the page', { status: 403 });
    }
    const { provider, interaction } = await details(ctx, tenant);
    if (interaction.uid !== ctx.params.uid || interaction.prompt.name !== 'consent') throw badFlow('this consent does not belong to this sign-in');
    ctx.cookies.set(csrfCookie(tenant.slug), null, { path: `/t/${tenant.slug}/interaction/${interaction.uid}` });
    let result;
    if (form.data.decision === 'deny') {
      result = { error: 'access_denied', error_description: 'the user denied access' };
    } else {
      const accountId = interaction.session?.accountId;
      const clientId = z.string().parse(interaction.params.client_id);
      if (!accountId) throw badFlow('not signed in');
      const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
      if (!grant) throw badFlow('grant expired; start again');
      const missing = interaction.prompt.details as {
        missingOIDCScope?: string[];
        missingOIDCClaims?: string[];
        missingResourceScopes?: Record<string, string[]>;
      };
      if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
      if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
      result = { consent: { grantId: await grant.save() } };
    }
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  // The tenant's IdP sends the browser back here; the transaction cookie binds it to the browser
  // session that started the login (state, nonce, PKCE verifier, interaction uid).
  router.get('/t/:tenant/login/callback', htmlErrors, tenantOf, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    requireBuiltin(tenant);
    noStore(ctx);
    const sealed = ctx.cookies.get(interactionCookie(tenant.slug), { signed: true });
    const { provider, interaction } = await details(ctx, tenant);
    if (!sealed) throw badFlow('this sign-in was not started in this browser; start again from your app');
    let tx;
    try {
      tx = z
        .object({ uid: z.string(), state: z.string(), nonce: z.string(), codeVerifier: z.string() })
        .parse(JSON.parse(open(r.keyring, sealed, loginContext(tenant.id, interaction.uid))));
    } catch {
      throw badFlow('this sign-in does not belong to this browser session; start again from your app');
    }
    ctx.cookies.set(interactionCookie(tenant.slug), null, { path: `/t/${tenant.slug}/login` });
    const who = await upstream.finish(loginIdp(tenant), new URL(ctx.originalUrl, r.config.PUBLIC_URL), tx);
    const scope = required(ctx, 'scope');
    const user = await scope.users.upsert({ issuer: who.issuer, subject: who.subject, email: who.email ?? null, displayName: who.name ?? null });
    await vault.store(scope, user.id, 'idp', {
      accessToken: who.accessToken,
      refreshToken: who.refreshToken ?? null,
      expiresAt: who.expiresAt ?? null,
      scopes: who.scopes,
    });
    await scope.audit.append({ userId: user.id, action: 'user.signed_in', decision: 'info', reason: `idp=${who.issuer}`, requestId: ctx.state.requestId });
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: user.id } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });

  const registrationAllowed = registrationLimiter(r);

  // Everything the provider serves under /t/{slug}/… — before the router, with no body parser.
  return async (ctx, next) => {
    const m = PROVIDER_PATH.exec(ctx.path);
    if (!m || !isTenantSlug(m[1]!)) return next();
    const tenant = await r.tenants.bySlug(m[1]!);
    if (!tenant || tenant.authMode !== 'builtin') return next();
    if (m[2] === '/reg' && ctx.method === 'POST') {
      const retryAfter = await registrationAllowed(tenant, ctx.ip);
      if (retryAfter !== undefined) {
        ctx.status = 429;
        ctx.set('Retry-After', String(retryAfter));
        ctx.body = { error: 'rate_limited', error_description: `at most ${REGISTRATIONS_PER_WINDOW} client registrations a minute from one address` };
        return;
      }
    }
    await toProvider(ctx, servers, tenant, m[2]!, publicUrl);
  };
}

/**
 * Dynamic registration is unauthenticated: a fixed one-minute window per (tenant, client address),
 * counted in Redis so every API replica shares it (rate-limiter-flexible, one single-key script per
 * registration). The address is Koa's `ctx.ip`: the socket's, or under TRUST_PROXY=N the N-th
 * X-Forwarded-For entry from the right — entries a client adds on the left are never read — counted
 * per client (`rateLimitClientKey`: an IPv6 address by its /64, an IPv4-mapped one as IPv4). While
 * Redis is unreachable each replica counts for itself (insurance limiter): still limited, never open.
 * Resolves to the seconds to wait when over the limit.
 */
function registrationLimiter(r: ApiResources): (tenant: Tenant, ip: string) => Promise<number | undefined> {
  const duration = REGISTRATION_WINDOW_MS / 1000;
  const limiter = new RateLimiterRedis({
    storeClient: r.redis,
    keyPrefix: `${r.config.QUEUE_PREFIX}:rl-dcr`,
    points: REGISTRATIONS_PER_WINDOW,
    duration,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: REGISTRATIONS_PER_WINDOW, duration }),
  });
  return async (tenant, ip) => {
    try {
      await limiter.consume(`${tenant.id}:${rateLimitClientKey(ip)}`);
      return undefined;
    } catch (e) {
      if (e instanceof RateLimiterRes) return Math.max(1, Math.ceil(e.msBeforeNext / 1000));
      throw e;
    }
  };
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
