import { tenantsRepository, type Executor, type Tenant } from '@mcprt/db';

/** Tenants by slug, kept briefly: every request needs one, and they change rarely. */
export class TenantCache {
  readonly #byslug = new Map<string, { at: number; tenant: Tenant | undefined }>();
  readonly #repo;

  constructor(
    db: Executor,
    private readonly ttlMs = 30_000,
  ) {
    this.#repo = tenantsRepository(db);
  }

  async bySlug(slug: string): Promise<Tenant | undefined> {
    const hit = this.#byslug.get(slug);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.tenant;
    const tenant = await this.#repo.bySlug(slug);
    this.#byslug.set(slug, { at: Date.now(), tenant });
    return tenant;
  }
}
