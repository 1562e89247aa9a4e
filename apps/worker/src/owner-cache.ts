import { forTenant } from '@mcprt/calls';
import { tenantsRepository, type Executor, type Tenant, type User } from '@mcprt/db';

/**
 * Tenants and users as the worker needs them for every job, kept briefly (each replica, 30 s): a tool
 * enabled/disabled or a profile change is seen within that time. Saves two queries per call.
 */
export class OwnerCache {
  readonly #tenants = new Map<string, { at: number; v: Tenant | undefined }>();
  readonly #users = new Map<string, { at: number; v: User | undefined }>();

  constructor(
    private readonly db: Executor,
    private readonly ttlMs = 30_000,
    private readonly max = 10_000,
  ) {}

  tenant(id: string): Promise<Tenant | undefined> {
    return this.#get(this.#tenants, id, () => tenantsRepository(this.db).byId(id));
  }

  user(tenantId: string, userId: string): Promise<User | undefined> {
    return this.#get(this.#users, `${tenantId}/${userId}`, () => forTenant(this.db, tenantId).users.byId(userId));
  }

  async #get<T>(map: Map<string, { at: number; v: T | undefined }>, key: string, load: () => Promise<T | undefined>): Promise<T | undefined> {
    const hit = map.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.v;
    const v = await load();
    if (map.size >= this.max) map.delete(map.keys().next().value!);
    if (v !== undefined) map.set(key, { at: Date.now(), v });
    return v;
  }
}
