import { open, seal, sealPurposes, type Keyring } from '@mcprt/keyring';
import { reconnectUrl } from '@mcprt/tools';
import { z } from 'zod';

/**
 * The URL where a signed-in user connects a provider, or grants it more scopes:
 * `/t/{slug}/connect/{provider}?scopes=<space-separated>`; one helper (`@mcprt/tools`, where the
 * upstream client also needs it), re-exported here for the API and the worker.
 */
export { reconnectUrl };

/** How long a link made for a user stays valid: long enough to open it from the client, short enough not to linger in a chat log. */
export const CONNECT_LINK_TTL_MS = 30 * 60_000;

/** The query parameter carrying the sealed "made for" binding. */
const CONNECT_LINK_PARAM = 'for';

const linkContext = sealPurposes.connect_link.context;

const binding = z.object({ u: z.uuid(), exp: z.number().int() });

/**
 * The link for one user (MCP URL elicitation security: the server must check that whoever completes
 * the flow is the user it was made for). `for` is sealed to the tenant and provider (AES-GCM with
 * AAD), holds the user id and an expiry, and is checked at the connect route and again at its
 * callback against the browser's signed-in account.
 */
export function connectLinkFor(
  keyring: Keyring,
  publicUrl: string,
  tenant: { id: string; slug: string },
  userId: string,
  provider: string,
  scopes: string[],
  now = Date.now(),
): string {
  const sealed = seal(keyring, JSON.stringify({ u: userId, exp: now + CONNECT_LINK_TTL_MS }), linkContext(tenant.id, provider));
  const base = reconnectUrl(publicUrl, tenant.slug, provider, scopes);
  return `${base}${base.includes('?') ? '&' : '?'}${CONNECT_LINK_PARAM}=${encodeURIComponent(sealed)}`;
}

/** The user a link was made for, or why it cannot be used. Never throws. */
export function openConnectLink(
  keyring: Keyring,
  tenantId: string,
  provider: string,
  sealed: string,
  now = Date.now(),
): { ok: true; userId: string } | { ok: false; reason: 'invalid' | 'expired' } {
  let parsed;
  try {
    parsed = binding.safeParse(JSON.parse(open(keyring, sealed, linkContext(tenantId, provider))));
  } catch {
    return { ok: false, reason: 'invalid' };
  }
  if (!parsed.success) return { ok: false, reason: 'invalid' };
  if (parsed.data.exp < now) return { ok: false, reason: 'expired' };
  return { ok: true, userId: parsed.data.u };
}
