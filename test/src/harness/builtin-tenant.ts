import { tenantsRepository, type Tenant } from '@mcprt/db';
import { startDevIdp, type DevAccount, type DevIdp } from '@mcprt/dev-idp';
import { tenantSetIdp } from '@mcprt/cli';
import type { startStack } from './stack.js';

type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * A tenant in `builtin` mode on a test stack: its own authorization server, signing users in at a
 * dev IdP of its own (started here, with the login page for alice, bob and carol), set up the
 * operator's way (`tenant set-idp --auth builtin`). `accounts` replaces the IdP's default ones (alice, bob).
 */
export async function startBuiltinTenant(s: Stack, label: string, tools: string[] = ['whoami', 'web_search'], o: { accounts?: readonly DevAccount[] } = {}) {
  const slug = `${s.ns.slug}-${label}`.slice(0, 63);
  const secret = `dev-secret-${label}-${Math.random().toString(36).slice(2)}`;
  const idp: DevIdp = await startDevIdp({
    port: 0,
    ...(o.accounts ? { accounts: o.accounts } : {}),
    loginClients: [{ clientId: 'mcprt-as', clientSecret: secret, redirectUris: [`${s.config.PUBLIC_URL}/t/${slug}/login/callback`] }],
  });
  const repo = tenantsRepository(s.db.db);
  const created = await repo.create({ slug, displayName: `Builtin ${label}`, idpIssuer: idp.issuer, enabledTools: tools });
  await tenantSetIdp(
    { db: s.db.db, config: s.config, out: () => undefined },
    { slug, clientId: 'mcprt-as', clientSecret: secret, scopes: 'openid email profile offline_access', auth: 'builtin' },
  );
  const tenant: Tenant = (await repo.byId(created.id))!;
  return { tenant, idp, slug, mcpUrl: `${s.config.PUBLIC_URL}/t/${slug}/mcp`, issuer: `${s.config.PUBLIC_URL}/t/${slug}` };
}
