import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { SAMPLE_TIMEOUT_MS, sampledGauges } from './sampled.js';

const valuesOf = async (r: Registry, name: string) => (await r.getSingleMetric(name)!.get()).values;

describe('gauges read at scrape time', () => {
  it('a dependency that answers is 1; one that rejects or hangs past the timeout is 0', { timeout: SAMPLE_TIMEOUT_MS + 5_000 }, async () => {
    const r = new Registry();
    sampledGauges(r).dependencies({
      postgres: () => Promise.resolve(1),
      redis: () => Promise.reject(new Error('ECONNREFUSED')),
      hung: () => new Promise(() => undefined),
    });
    const values = await valuesOf(r, 'mcprt_dependency_up');
    expect(Object.fromEntries(values.map((v) => [v.labels.dependency, v.value]))).toEqual({ postgres: 1, redis: 0, hung: 0 });
  });

  it('a failed sample leaves the gauges empty (no stale value); one sample feeds both queue gauges per scrape', async () => {
    const r = new Registry();
    let reads = 0;
    let fail = false;
    sampledGauges(r).queue(() => {
      reads++;
      return fail ? Promise.reject(new Error('redis down')) : Promise.resolve({ counts: { wait: 3, active: 1 }, oldestWaitingSeconds: 12 });
    });
    const text = await r.metrics();
    expect(text).toContain('mcprt_queue_jobs{state="wait"} 3');
    expect(text).toContain('mcprt_queue_oldest_waiting_seconds 12');
    expect(reads).toBe(1);
    fail = true;
    await new Promise((resolve) => setTimeout(resolve, 1_100)); // past the shared sample's second
    const after = await r.metrics();
    expect(after).not.toContain('mcprt_queue_jobs{');
    expect(after).not.toMatch(/^mcprt_queue_oldest_waiting_seconds /m);
    expect(reads).toBe(2);
  });
});
