import { bodyParser } from '@koa/bodyparser';
import type { Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { sealPurposes, type Keyring } from '@mcprt/keyring';
import { upstreamOf, type ResolvedUpstream } from '@mcprt/providers';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import type { BrowserCookies } from './browser-session.js';
import { consentPage, pageCsp } from './pages.js';
import { asProviderRequest } from './passthrough.js';
import type { AuthServers } from './provider.js';
import type { UpstreamLogin } from './upstream.js';

export interface InteractionDeps {
  publicUrl: string;
  keyring: Keyring;
  servers: Pick<AuthServers, 'get'>;
  upstream: UpstreamLogin;
  cookies: BrowserCookies;
}

type Ctx = ParameterizedContext<ApiState>;
type Missing = { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };

export const badFlow = (message: string) => appError('invalid_request', message);

/** The tenant's login IdP (`tenant set-idp`), resolved; a tenant without one cannot sign anyone in. */
export function loginIdp(tenant: Tenant): ResolvedUpstream {
  const u = upstreamOf(tenant, 'idp');
  if (!u) throw appError('idp_not_configured', undefined, { expose: true });
  return u;
}

/** The sign-in transaction cookie (state, nonce, PKCE verifier, interaction uid), sealed to the interaction. */
export const loginCookie = (slug: string) => `mcprt_login_${slug}`;
export const loginCookiePath = (slug: string) => `/t/${slug}/login`;
export const loginContext = sealPurposes.upstream_login.context;
const csrfCookie = (slug: string) => `mcprt_csrf_${slug}`;

/** The provider's interaction of this browser (its cookie), or a 400 page when it has expired or belongs to another browser. */
export async function interactionOf(d: Pick<InteractionDeps, 'servers' | 'publicUrl'>, ctx: Ctx, tenant: Tenant) {
  const { provider } = await d.servers.get(tenant);
  asProviderRequest(ctx, new URL(d.publicUrl));
  try {
    return { provider, interaction: await provider.interactionDetails(ctx.req, ctx.res) };
  } catch {
    throw badFlow('this sign-in has expired or was started in another browser; start again from your app');
  }
}

/** The interaction: login (federated to the tenant's IdP) first, then consent. */
export function mountInteraction(routes: Routes, chains: Chains, d: InteractionDeps): void {
  routes.get('/t/:tenant/interaction/:uid', chains.page, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const { provider, interaction } = await interactionOf(d, ctx, tenant);
    if (interaction.uid !== ctx.params.uid) throw badFlow('this sign-in does not belong to this browser session');
    if (interaction.prompt.name === 'login') {
      const start = await d.upstream.start(loginIdp(tenant), `${d.publicUrl}/t/${tenant.slug}/login/callback`);
      const tx = JSON.stringify({ uid: interaction.uid, state: start.state, nonce: start.nonce, codeVerifier: start.codeVerifier });
      d.cookies.setSealed(ctx, loginCookie(tenant.slug), tx, loginContext(tenant.id, interaction.uid), loginCookiePath(tenant.slug));
      ctx.status = 303;
      ctx.redirect(start.url);
      return;
    }
    if (interaction.prompt.name !== 'consent') throw badFlow(`unsupported step ${interaction.prompt.name}`);
    const clientId = z.string().parse(interaction.params.client_id);
    const client = await provider.Client.find(clientId);
    if (!client) throw badFlow('unknown client');
    const redirectUri = new URL(z.string().parse(interaction.params.redirect_uri));
    const missing = interaction.prompt.details as Missing;
    const scopes = [
      ...new Set([...Object.values(missing.missingResourceScopes ?? {}).flat(), ...(missing.missingOIDCScope ?? []).filter((s) => s !== 'openid')]),
    ];
    const csrf = d.cookies.issueCsrf(ctx, csrfCookie(tenant.slug), `/t/${tenant.slug}/interaction/${interaction.uid}`);
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
  const form = bodyParser({ enableTypes: ['form'], formLimit: '8kb' }) as unknown as Handler;
  routes.post('/t/:tenant/interaction/:uid/consent', chains.page, form, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = consentForm.safeParse(ctx.request.body);
    if (!body.success || !d.cookies.csrfMatches(ctx, csrfCookie(tenant.slug), body.data.csrf))
      throw appError('csrf_invalid', 'the consent form is missing its CSRF token or it does not match; reload the page');
    const { provider, interaction } = await interactionOf(d, ctx, tenant);
    if (interaction.uid !== ctx.params.uid || interaction.prompt.name !== 'consent') throw badFlow('this consent does not belong to this sign-in');
    d.cookies.clear(ctx, csrfCookie(tenant.slug), `/t/${tenant.slug}/interaction/${interaction.uid}`);
    const result =
      body.data.decision === 'deny' ? { error: 'access_denied', error_description: 'the user denied access' } : await grantConsent(provider, interaction);
    const returnTo = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: true });
    ctx.status = 303;
    ctx.redirect(returnTo);
  });
}

type Interaction = Awaited<ReturnType<typeof interactionOf>>;

/** The user allowed: the grant gets what the interaction asked for (scopes, claims, the resource's scopes). */
async function grantConsent(provider: Interaction['provider'], interaction: Interaction['interaction']) {
  const accountId = interaction.session?.accountId;
  const clientId = z.string().parse(interaction.params.client_id);
  if (!accountId) throw badFlow('not signed in');
  const grant = interaction.grantId ? await provider.Grant.find(interaction.grantId) : new provider.Grant({ accountId, clientId });
  if (!grant) throw badFlow('grant expired; start again');
  const missing = interaction.prompt.details as Missing;
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  return { consent: { grantId: await grant.save() } };
}
