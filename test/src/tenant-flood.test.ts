import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { TenantCache, UserCache } from '@mcprt/api';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { startPgQueryCounter } from './harness/pg-query-counter.js';
import { startStack, type Stack } from './harness/stack.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';
import { sleep } from './harness/wait-for.js';

/**
 * The tenant look-up runs before the token check, so anyone can make the API look up
 * any slug. 10 000 random slugs must cost at most one query per distinct well-formed slug (none for
 * malformed ones, one for concurrent duplicates), and leave a bounded cache behind. Queries are
 * counted on the wire, between the API and the real Postgres.
 */

// `db.query.tenants.findFirst({ where: slug = … })`, as drizzle sends it.
const TENANT_BY_SLUG = /from "tenants".*"slug" = \$1/s;

const gc = (() => {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
})();
const heapUsed = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const MB = 1024 * 1024;

const randomSlug = () => `rnd-${randomBytes(6).toString('hex')}`;
/** Slugs that cannot exist: refused before any look-up. */
const malformed = (i: number) =>
  [`UPPER-${i}`, `-lead-${i}`, `${'x'.repeat(64)}${i}`, `dot.${i}`, `under_${i}`, `sp%20${i}`, `%2e%2e${i}`, `uni-é${i}`][i % 8]!;

describe('tenant look-up under a flood of random slugs (unauthenticated)', () => {
  let counter: Awaited<ReturnType<typeof startPgQueryCounter>>;
  let s: Stack;
  let database: TestDatabase;

  beforeAll(async () => {
    database = await cloneDatabase('flood');
    const pg = new URL(database.ownerUrl);
    counter = await startPgQueryCounter({ host: pg.hostname, port: Number(pg.port || 5432) });
    s = await startStack({ label: 'flood', worker: 'none', database, env: { DATABASE_URL: counter.urlFor(database.ownerUrl) } });
  });
  afterAll(async () => {
    await s?.close();
    await counter?.close();
    await database?.drop();
  });

  // Unauthenticated: no token, just a tenant path.
  const hit = (slug: string) => fetch(`${s.config.PUBLIC_URL}/t/${slug}/mcp`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });

  async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>) {
    for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
  }

  it('10 000 random slugs: ≤ 1 query per distinct well-formed slug, none for malformed ones, bounded cache and memory', async () => {
    const tenants = s.api!.resources.tenants;
    // 10 000 slugs: 7 000 distinct well-formed random ones, 1 000 of them sent a second time in the
    // same batch (they must share the first one's query), and 2 000 malformed ones.
    const valid = Array.from({ length: 7_000 }, randomSlug);
    const requests: string[] = [];
    for (let i = 0; i < valid.length; i++) {
      requests.push(valid[i]!);
      if (i % 7 === 0) requests.push(valid[i]!);
      if (i % 7 === 1 || i % 7 === 4) requests.push(malformed(i));
    }
    expect(requests.length).toBe(10_000);
    const statuses = new Map<number, number>();
    // Warm up (JIT, connection pool, the real tenant in the cache), then measure from here.
    await inBatches(Array.from({ length: 200 }, randomSlug), 50, async (slug) => void (await hit(slug)).arrayBuffer());
    expect((await hit(s.tenant.slug)).status).toBe(401);
    const before = heapUsed();
    counter.reset();

    const t0 = performance.now();
    const flood = (part: string[]) =>
      inBatches(part, 64, async (slug) => {
        const res = await hit(slug);
        const body = (await res.json()) as { error: string };
        if (body.error !== 'tenant_not_found') throw new Error(`${slug}: ${res.status} ${JSON.stringify(body)}`);
        statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      });
    // In two halves: the first also warms up whatever the process allocates once; the second shows
    // what each further slug costs to keep.
    await flood(requests.slice(0, 5_000));
    const middle = heapUsed();
    await flood(requests.slice(5_000));
    const seconds = (performance.now() - t0) / 1000;
    const queries = counter.count(TENANT_BY_SLUG);
    const size = tenants.size;
    const after = heapUsed();
    const growth = after - before;
    const secondHalf = after - middle;
    console.log(
      `tenant flood: ${requests.length} requests (${valid.length} distinct well-formed slugs, 1000 of them twice at once, 2000 malformed) in ${seconds.toFixed(1)} s; ` +
        `${queries} tenant queries; cache ${JSON.stringify(size)} of ${JSON.stringify(tenants.limits)}; ` +
        `heap growth ${(growth / MB).toFixed(2)} MB (second half ${(secondHalf / MB).toFixed(2)} MB)`,
    );

    expect(statuses).toEqual(new Map([[404, requests.length]]));
    // Every query is for a distinct well-formed slug: duplicates coalesced, malformed ones free.
    expect(queries).toBeLessThanOrEqual(valid.length);
    expect(queries).toBeGreaterThan(valid.length / 2);
    // Bounded: the look-up cache holds at most its limit, however many slugs were tried.
    expect(size.lookups).toBeLessThanOrEqual(tenants.limits.lookups);
    expect(size.tenants).toBeLessThanOrEqual(1);
    // The whole process (API, HTTP client, query counter): nothing per request stays. The cache's
    // own share is measured precisely below, without HTTP in the way.
    expect(growth).toBeLessThan(8 * MB);
    expect(secondHalf).toBeLessThan(4 * MB);

    // Slugs just refused are remembered (for the negative TTL, 5 s): asking again costs nothing.
    const fresh = Array.from({ length: 100 }, randomSlug);
    await inBatches(fresh, 50, async (slug) => void (await hit(slug)).arrayBuffer());
    counter.reset();
    await inBatches(fresh, 50, async (slug) => void (await hit(slug)).arrayBuffer());
    expect(counter.count(TENANT_BY_SLUG)).toBe(0);
  }, 300_000);

  it('a malformed slug is a 404 that says why, without a query', async () => {
    counter.reset();
    for (const slug of ['UPPER', 'x'.repeat(64), '-x', 'a_b', '%00']) {
      const res = await hit(slug);
      expect(res.status).toBe(404);
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error).toBe('tenant_not_found');
      expect(body.error_description).toContain('1-63 characters');
    }
    expect(counter.count(/"tenants"/)).toBe(0);
  });

  describe('TenantCache on the real database', () => {
    let db: DbHandle;
    beforeAll(() => {
      db = createDb(counter.urlFor(database.ownerUrl), { max: 3 });
    });
    afterAll(() => db?.close());

    it('concurrent look-ups of one slug share one query', async () => {
      const cache = new TenantCache(db.db);
      const slug = randomSlug();
      counter.reset();
      const results = await Promise.all(Array.from({ length: 50 }, () => cache.bySlug(slug)));
      expect(results.every((t) => t === undefined)).toBe(true);
      expect(counter.count(TENANT_BY_SLUG)).toBe(1);
    });

    it('"no such tenant" expires: a tenant created after a miss is found once the entry has expired', async () => {
      const cache = new TenantCache(db.db, { missingTtlMs: 2_000 });
      const slug = randomSlug();
      expect(await cache.bySlug(slug)).toBeUndefined();
      await tenantsRepository(db.db).create({ slug, displayName: slug, idpIssuer: s.idp.issuer, enabledTools: [] });
      // Within the negative TTL the old answer stands (that is the point of caching it) …
      expect(await cache.bySlug(slug)).toBeUndefined();
      await sleep(2_100);
      // … and then it is asked again.
      expect((await cache.bySlug(slug))?.slug).toBe(slug);
    });

    it('memory: 20 000 more random slugs leave the heap where it was (an unbounded map would keep an entry per slug)', async () => {
      // Straight to Postgres: the query counter keeps a record per query, which would be measured too.
      const direct = createDb(database.ownerUrl, { max: 3 });
      onTestFinished(() => direct.close());
      const cache = new TenantCache(direct.db);
      const run = (n: number) => inBatches(Array.from({ length: n }, randomSlug), 64, async (slug) => void (await cache.bySlug(slug)));
      await run(2_000);
      const before = heapUsed();
      await run(20_000);
      const growth = heapUsed() - before;
      console.log(`TenantCache: 20 000 random slugs → heap growth ${(growth / MB).toFixed(2)} MB, cache ${JSON.stringify(cache.size)}`);
      expect(cache.size.lookups).toBeLessThanOrEqual(cache.limits.lookups);
      // An entry per slug would grow past the bound; the LRU stays flat.
      expect(growth).toBeLessThan(1 * MB);
    }, 300_000);

    it('UserCache: concurrent first requests of one user share one upsert; bounded by max', async () => {
      const users = new UserCache(300_000, 50);
      const scope = forTenant(db.db, s.tenant.id);
      const who = { issuer: s.idp.issuer, subject: `sub-${randomBytes(4).toString('hex')}` };
      counter.reset();
      const seen = await Promise.all(Array.from({ length: 30 }, () => users.resolve(scope, who)));
      expect(new Set(seen.map((u) => u.id)).size).toBe(1);
      expect(counter.count(/insert into "users"/)).toBe(1);
      await inBatches(
        Array.from({ length: 300 }, (_, i) => i),
        30,
        async (i) => void (await users.resolve(scope, { ...who, subject: `${who.subject}-${i}` })),
      );
      expect(users.size).toBeLessThanOrEqual(50);
    });

    it('bounded by max: 2 000 misses leave at most maxLookups entries and do not push out a real tenant', async () => {
      const cache = new TenantCache(db.db, { maxLookups: 100 });
      expect((await cache.bySlug(s.tenant.slug))?.id).toBe(s.tenant.id);
      await inBatches(Array.from({ length: 2_000 }, randomSlug), 50, async (slug) => void (await cache.bySlug(slug)));
      expect(cache.size.lookups).toBeLessThanOrEqual(100);
      expect(cache.size.lookups).toBeGreaterThan(0);
      // The flood went through the look-up LRU only: the real tenant is still cached.
      counter.reset();
      expect((await cache.bySlug(s.tenant.slug))?.id).toBe(s.tenant.id);
      expect(counter.count(TENANT_BY_SLUG)).toBe(0);
    });
  });
});
