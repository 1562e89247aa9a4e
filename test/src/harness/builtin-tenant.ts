import { tenantSetIdp } from '@mcprt/cli';
import { tenantsRepository, type Tenant } from '@mcprt/db';
import { startDevIdp, type DevAccount, type DevIdp } from '@mcprt/dev-idp';
import type { Stack } from './stack.js';

/**
 * Another tenant in `builtin` mode on a test stack (the stack's own tenant is one already): its own
 * authorization server, signing users in at a dev IdP of its own (started here, stopped with the
 * stack), set up the operator's way (`tenant set-idp --auth builtin`). `accounts` replaces the IdP's
 * default ones (alice, bob). `setupOutput` is what `tenant set-idp` printed (it must not hold the secret).
 */
export async function startBuiltinTenant(s: Stack, label: string, tools: string[] = ['whoami', 'web_search'], o: { accounts?: readonly DevAccount[] } = {}) {
  const slug = `${s.ns.slug}-${label}`.slice(0, 63);
  const loginSecret = `dev-secret-${label}-${Math.random().toString(36).slice(2)}`;
  const idp: DevIdp = await startDevIdp({
    port: 0,
    ...(o.accounts ? { accounts: o.accounts } : {}),
    loginClients: [{ clientId: 'mcprt-as', clientSecret: loginSecret, redirectUris: [`${s.config.PUBLIC_URL}/t/${slug}/login/callback`] }],
  });
  s.addCleanup(() => idp.close());
  const repo = tenantsRepository(s.db.db);
  const created = await repo.create({ slug, displayName: `Builtin ${label}`, idpIssuer: idp.issuer, enabledTools: tools });
  const setupOutput: string[] = [];
  await tenantSetIdp(
    { db: s.db.db, config: s.config, out: (l) => setupOutput.push(l) },
    { slug, clientId: 'mcprt-as', clientSecret: loginSecret, scopes: 'openid email profile offline_access', auth: 'builtin' },
  );
  const tenant: Tenant = (await repo.byId(created.id))!;
  return { tenant, idp, slug, mcpUrl: `${s.config.PUBLIC_URL}/t/${slug}/mcp`, issuer: `${s.config.PUBLIC_URL}/t/${slug}`, loginSecret, setupOutput };
}
