import type { TenantScope } from '@mcprt/calls';
import type { User } from '@mcprt/db';
import { LRUCache } from 'lru-cache';

interface Who {
  issuer: string;
  subject: string;
  email?: string | undefined;
  name?: string | undefined;
}

/**
 * Users by (tenant, issuer, subject). A user is created on first sight; later requests skip the
 * upsert while the entry is fresh. Bounded (LRU, `max` entries) so a flood of subjects cannot grow
 * memory without limit, and concurrent first requests of one user share one upsert. Only requests
 * with a verified token get here.
 */
export class UserCache {
  readonly #cache: LRUCache<string, User, { scope: TenantScope; who: Who }>;
  readonly #byId: LRUCache<string, User>;

  constructor(ttlMs = 300_000, max = 10_000) {
    this.#byId = new LRUCache({ max, ttl: ttlMs });
    this.#cache = new LRUCache({
      max,
      ttl: ttlMs,
      fetchMethod: (_key, _stale, { context: { scope, who } }) =>
        scope.users.upsert({ issuer: who.issuer, subject: who.subject, email: who.email ?? null, displayName: who.name ?? null }),
      // An upsert still in flight when its entry is evicted is still the answer for its callers.
      ignoreFetchAbort: true,
    });
  }

  /**
   * A built-in authorization server's token names our user id as `sub`: the user row was
   * created at sign-in, so it is only read (cached like `resolve`; undefined when it does not exist).
   */
  async byId(scope: TenantScope, id: string): Promise<User | undefined> {
    const key = `${scope.tenantId}\u0000#id\u0000${id}`;
    const hit = this.#byId.get(key);
    if (hit) return hit;
    const user = await scope.users.byId(id);
    if (user) this.#byId.set(key, user);
    return user;
  }

  async resolve(scope: TenantScope, who: Who): Promise<User> {
    const key = `${scope.tenantId}\u0000${who.issuer}\u0000${who.subject}`;
    const user = this.#cache.get(key) ?? (await this.#cache.fetch(key, { context: { scope, who } }));
    if (!user) throw new Error('user look-up was aborted');
    return user;
  }

  get size(): number {
    return this.#cache.size;
  }
}
