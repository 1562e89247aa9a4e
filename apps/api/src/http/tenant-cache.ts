import { tenantsRepository, type Executor, type Tenant } from '@mcprt/db';
import { LRUCache } from 'lru-cache';

/** A tenant slug as the CLI creates them: 1-63 characters of a-z, 0-9 and "-", not starting with "-". */
const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

export const isTenantSlug = (slug: string): boolean => SLUG.test(slug);

const ABSENT = Symbol('no such tenant');

export interface TenantCacheOptions {
  /** How long a tenant is kept (changes to a tenant show within it). */
  ttlMs?: number;
  /** How many tenants are kept. */
  max?: number;
  /** How long "no such tenant" is kept: short, so a tenant created a moment ago is found soon. */
  missingTtlMs?: number;
  /** How many look-ups (in flight, or answered "no such tenant") are kept. */
  maxLookups?: number;
}

/**
 * Tenants by slug, kept briefly: every request needs one, and they change rarely. This runs before
 * the token check, so anyone can make it look up any slug; what that costs is bounded:
 * - a slug that is not well-formed is refused without a look-up;
 * - concurrent look-ups of one slug share one query (lru-cache `fetch`);
 * - "no such tenant" is remembered for `missingTtlMs` in a bounded LRU of its own, so a flood of
 *   random slugs neither grows memory nor evicts the real tenants (kept in a separate LRU).
 */
export class TenantCache {
  readonly #tenants: LRUCache<string, Tenant>;
  readonly #lookups: LRUCache<string, Tenant | typeof ABSENT>;

  constructor(db: Executor, opts: TenantCacheOptions = {}) {
    const repo = tenantsRepository(db);
    this.#tenants = new LRUCache({ max: opts.max ?? 10_000, ttl: opts.ttlMs ?? 30_000 });
    this.#lookups = new LRUCache({
      max: opts.maxLookups ?? 1_000,
      ttl: opts.missingTtlMs ?? 5_000,
      fetchMethod: async (slug) => {
        const tenant = await repo.bySlug(slug);
        if (!tenant) return ABSENT;
        this.#tenants.set(slug, tenant);
        return tenant;
      },
      // A query still in flight when a flood evicts its entry still answers the requests waiting on it.
      ignoreFetchAbort: true,
    });
  }

  /** The tenant, or undefined when there is none (or the slug cannot be one: no query then). */
  async bySlug(slug: string): Promise<Tenant | undefined> {
    if (!isTenantSlug(slug)) return undefined;
    const hit = this.#tenants.get(slug) ?? (await this.#lookups.fetch(slug));
    return hit === ABSENT ? undefined : hit;
  }

  /** Entries held: tenants, and look-ups (in flight or negative). Each is at most its `max`. */
  get size(): { tenants: number; lookups: number } {
    return { tenants: this.#tenants.size, lookups: this.#lookups.size };
  }

  get limits(): { tenants: number; lookups: number } {
    return { tenants: this.#tenants.max, lookups: this.#lookups.max };
  }
}
