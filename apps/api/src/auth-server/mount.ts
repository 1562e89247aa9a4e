import { credentialVault } from '@mcprt/providers';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import { answerAsPage, type Chains, type Routes } from '../http/tenant-router.js';
import { BrowserCookies } from './browser-session.js';
import { badFlow, interactionOf, loginContext, loginCookie, loginCookiePath, loginIdp, mountInteraction, type InteractionDeps } from './interaction.js';
import { providerPassthrough, toProvider, type PassthroughDeps } from './passthrough.js';

export { loginIdp };
export { REGISTRATIONS_PER_WINDOW } from './passthrough.js';
/** The browser routes' error format (connect.ts mounts its pages with it). */
export const htmlErrors = answerAsPage;

export type AuthServerRouteDeps = Omit<InteractionDeps, 'cookies'> & PassthroughDeps;

const loginTx = z.object({ uid: z.string(), state: z.string(), nonce: z.string(), codeVerifier: z.string() });

/**
 * Mounts the built-in authorization servers: RFC 8414 / OIDC discovery at the root in path-insertion
 * form, the login interaction federated to the tenant's IdP, the consent page, and the IdP's callback.
 * Returns the middleware that hands the provider's own endpoints to it (before the router).
 */
export function mountAuthServer(routes: Routes, chains: Chains, d: AuthServerRouteDeps): Middleware<ApiState> {
  const vault = credentialVault(d.keyring);
  const publicUrl = new URL(d.publicUrl);
  const cookies = new BrowserCookies(d.keyring, d.publicUrl.startsWith('https://'));

  // RFC 8414 §3.1 / OIDC discovery, path-inserted: the SDK client asks here first.
  const metadata: Middleware<ApiState> = (ctx) => toProvider(ctx, d.servers, required(ctx, 'tenant'), '/.well-known/openid-configuration', publicUrl);
  routes.get('/.well-known/oauth-authorization-server/t/:tenant', chains.builtinTenant, metadata);
  routes.get('/.well-known/openid-configuration/t/:tenant', chains.builtinTenant, metadata);

  mountInteraction(routes, chains, { ...d, cookies });

  // The tenant's IdP sends the browser back here; the transaction cookie binds it to the browser
  // session that started the login (state, nonce, PKCE verifier, interaction uid).
  routes.get('/t/:tenant/login/callback', chains.page, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const started = cookies.has(ctx, loginCookie(tenant.slug));
    const { provider, interaction } = await interactionOf(d, ctx, tenant);
    if (!started) throw badFlow('this sign-in was not started in this browser; start again from your app');
    let tx;
    try {
      tx = loginTx.parse(JSON.parse(cookies.openSealed(ctx, loginCookie(tenant.slug), loginContext(tenant.id, interaction.uid))!));
    } catch {
      throw badFlow('this sign-in does not belong to this browser session; start again from your app');
    }
    cookies.clear(ctx, loginCookie(tenant.slug), loginCookiePath(tenant.slug));
    const who = await d.upstream.finish(loginIdp(tenant), new URL(ctx.originalUrl, d.publicUrl), tx);
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

  return providerPassthrough(d);
}
