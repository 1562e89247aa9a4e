import type { TenantScope, User } from '@mcprt/db';

/**
 * Users by (tenant, issuer, subject). A user is created on first sight; later requests skip the
 * upsert while the entry is fresh. Bounded so a flood of subjects cannot grow memory without limit.
 */
export class UserCache {
  readonly #map = new Map<string, { at: number; user: User }>();

  constructor(
    private readonly ttlMs = 300_000,
    private readonly max = 10_000,
  ) {}

  async resolve(scope: TenantScope, who: { issuer: string; subject: string; email?: string | undefined; name?: string | undefined }): Promise<User> {
    const key = `${scope.tenantId}\u0000${who.issuer}\u0000${who.subject}`;
    const hit = this.#map.get(key);
    if (hit && Date.now() - hit.at < this.ttlMs) return hit.user;
    const user = await scope.users.upsert({ issuer: who.issuer, subject: who.subject, email: who.email ?? null, displayName: who.name ?? null });
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(key, { at: Date.now(), user });
    return user;
  }
}
