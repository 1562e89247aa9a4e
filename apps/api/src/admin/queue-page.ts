import { pendingCallsSummary, sampleQueue, type Producer } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import type { RedisClient } from '@mcprt/redis';
import { esc } from '../auth-server/pages.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { consolePage, table } from './layout.js';

export interface QueuePageDeps {
  sql: DbHandle['sql'];
  producer: Pick<Producer, 'queue'>;
  redis: RedisClient;
}

const seconds = (ms: number) => `${Math.max(0, Math.round(ms / 1000))} s`;

/**
 * Queue: this tenant's calls not final yet, by status, with the oldest of each (Postgres, this
 * tenant only); then the shared BullMQ queue every tenant's calls go through (counts of waiting,
 * active, delayed, failed jobs and the age of the oldest waiting one). The queue is the deployment's:
 * its figures are totals that name no tenant, user or call.
 */
export function mountQueuePage(routes: Routes, chains: Chains, d: QueuePageDeps): void {
  routes.get('/t/:tenant/admin/queue', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    const [mine, shared] = await Promise.all([pendingCallsSummary(d.sql, t.id), sharedQueue(d).catch(() => undefined)]);
    const tenantTable = table(
      ['Status', 'Calls', 'Oldest'],
      mine.map((r) => [`<span data-status="${esc(r.status)}">${esc(r.status)}</span>`, esc(String(r.count)), esc(seconds(r.oldestAgeMs))]),
      'No call of this tenant is waiting or running.',
    );
    const sharedHtml = shared
      ? table(
          ['Waiting', 'Active', 'Delayed', 'Failed', 'Oldest waiting'],
          [
            [
              `<span data-queue="waiting">${shared.waiting}</span>`,
              `<span data-queue="active">${shared.active}</span>`,
              `<span data-queue="delayed">${shared.delayed}</span>`,
              `<span data-queue="failed">${shared.failed}</span>`,
              esc(shared.oldestWaitingMs === undefined ? '—' : seconds(shared.oldestWaitingMs)),
            ],
          ],
        )
      : '<p class="bad">The queue (Redis) did not answer.</p>';
    ctx.type = 'html';
    ctx.body = consolePage(ctx, 'queue', 'Queue', `<h2>This tenant's pending calls</h2>${tenantTable}<h2>The shared queue (all tenants)</h2>${sharedHtml}`);
  });
}

/** The metrics' own sample of the queue (sampleQueue: counts per state, oldest waiting job). */
async function sharedQueue(
  d: QueuePageDeps,
): Promise<{ waiting: number; active: number; delayed: number; failed: number; oldestWaitingMs: number | undefined }> {
  const { counts, oldestWaitingSeconds } = await sampleQueue(d.producer.queue, d.redis);
  const waiting = (counts.wait ?? 0) + (counts.prioritized ?? 0);
  return {
    waiting,
    active: counts.active ?? 0,
    delayed: counts.delayed ?? 0,
    failed: counts.failed ?? 0,
    oldestWaitingMs: waiting > 0 ? oldestWaitingSeconds * 1000 : undefined,
  };
}
