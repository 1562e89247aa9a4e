import type { Tenant, User } from '@mcprt/db';
import type { RedisKeys } from '@mcprt/redis';
import type { Logger } from '@mcprt/observability';
import type { RedisClient } from '@mcprt/redis';
import type { ClientInputCapabilities } from '@mcprt/tools';

/** How long a 2025-era client's `initialize` capabilities are remembered (its tokens live 10 minutes, its sessions longer). */
const TTL_S = 86_400;

type Who = { tenant: Pick<Tenant, 'id'>; user: Pick<User, 'id'>; token: { clientId: string | undefined } };

/**
 * 2025-era clients declare their capabilities once, at `initialize`; this endpoint is stateless (a
 * fresh server per POST, no session), so the later `tools/call` cannot see them. What matters here —
 * whether the client takes URL elicitation (`elicitation.url`, MCP 2025-11-25), elicitation, sampling
 * and roots — is remembered in Redis per (tenant, user, OAuth client) at `initialize`. Written on
 * initialize only, read only when a call is refused for a missing upstream credential or a tool asks
 * for input: nothing on the tools/call hot path. 2026-07-28 clients
 * send their capabilities with every request and need none of this.
 */
export interface CapabilityMemory {
  redis: Pick<RedisClient, 'get' | 'set'>;
  keys: Pick<RedisKeys, 'urlElicitation'>;
  log: Logger;
}

/**
 * The flags remembered: `u` URL elicitation, `e` elicitation, `s` sampling, `r` roots (a value
 * written before these existed, `1`/`0`, says URL elicitation or nothing).
 */
export function rememberInitialize(r: CapabilityMemory, who: Who, body: unknown): void {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return;
  const m = body as { method?: unknown; params?: { capabilities?: Record<string, unknown> } };
  if (m.method !== 'initialize') return;
  const caps = m.params?.capabilities ?? {};
  const has = (v: unknown) => typeof v === 'object' && v !== null;
  const flags =
    (has((caps.elicitation as { url?: unknown } | undefined)?.url) ? 'u' : '') +
    (has(caps.elicitation) ? 'e' : '') +
    (has(caps.sampling) ? 's' : '') +
    (has(caps.roots) ? 'r' : '');
  r.redis
    .set(r.keys.urlElicitation(who.tenant.id, who.user.id, who.token.clientId), flags || '0', 'EX', TTL_S)
    .catch((err: unknown) => r.log.warn({ err }, 'could not remember the client capabilities'));
}

const remembered = (r: Pick<CapabilityMemory, 'redis' | 'keys'>, who: Who) =>
  r.redis.get(r.keys.urlElicitation(who.tenant.id, who.user.id, who.token.clientId)).catch(() => null);

/** Whether the 2025-era client of this request declared URL elicitation at its `initialize` (false when unknown). */
export async function legacyTakesUrlElicitation(r: Pick<CapabilityMemory, 'redis' | 'keys'>, who: Who): Promise<boolean> {
  const v = await remembered(r, who);
  return v === '1' || (v?.includes('u') ?? false);
}

/** What the 2025-era client of this request declared it can answer at its `initialize` (undefined when unknown). */
export async function legacyInputCapabilities(r: Pick<CapabilityMemory, 'redis' | 'keys'>, who: Who): Promise<ClientInputCapabilities | undefined> {
  const v = await remembered(r, who);
  if (v === null) return undefined;
  return { elicitation: v.includes('e'), sampling: v.includes('s'), roots: v.includes('r') };
}
