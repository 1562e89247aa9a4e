import { randomUUID } from 'node:crypto';
import { CancelListener, cancelChannel, publishCancel } from '@mcprt/calls';
import { publish, type RedisClient } from '@mcprt/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openRedis, TEST_REDIS } from './harness/redis.js';
import { namespace } from './harness/test-config.js';
import { sleep } from './harness/wait-for.js';

/** The cancel channel on real Redis: one subscription per process, runs aborted by id and tenant only. */
describe('cancel channel', () => {
  const { queuePrefix } = namespace('cancel');
  let pub: RedisClient;
  let listener: CancelListener;
  const errors: unknown[] = [];
  beforeAll(async () => {
    pub = openRedis();
    listener = new CancelListener(openRedis(TEST_REDIS, 'subscriber'), queuePrefix, (e) => errors.push(e));
    await listener.ready();
  });
  afterAll(async () => {
    await listener.close();
    await pub.quit();
  });

  const callId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`;
  const settle = () => sleep(100);

  it('a published cancel aborts the run of that call in that tenant, and says it was a cancel', async () => {
    const tenantId = randomUUID();
    const id = callId();
    const run = listener.track(tenantId, id);
    const other = listener.track(tenantId, callId());
    expect(await publishCancel(pub, queuePrefix, { tenantId, callId: id })).toBe(1);
    await settle();
    expect(run.signal.aborted).toBe(true);
    expect(run.cancelled()).toBe(true);
    expect(other.signal.aborted).toBe(false);
    run.release();
    other.release();
  });

  it('the same call id claimed for another tenant, a malformed message, a released run: nothing is aborted', async () => {
    const tenantId = randomUUID();
    const id = callId();
    const run = listener.track(tenantId, id);
    await publishCancel(pub, queuePrefix, { tenantId: randomUUID(), callId: id });
    await publish(pub, cancelChannel(queuePrefix), JSON.stringify({ tenantId, callId: id, extra: 1 }));
    await publish(pub, cancelChannel(queuePrefix), 'not json');
    await settle();
    expect(run.signal.aborted).toBe(false);
    expect(errors.length).toBe(2);
    run.release();
    await publishCancel(pub, queuePrefix, { tenantId, callId: id });
    await settle();
    expect(run.signal.aborted).toBe(false);
  });

  it('a cancel heard before the run starts here aborts the run as it is tracked, in its tenant only', async () => {
    // A lone call's job may start from its admission notice (the row as committed), so a cancel
    // committed meanwhile can reach this worker before the run is tracked.
    const tenantId = randomUUID();
    const id = callId();
    await publishCancel(pub, queuePrefix, { tenantId, callId: id });
    await settle();
    const elsewhere = listener.track(randomUUID(), id);
    expect(elsewhere.signal.aborted).toBe(false);
    elsewhere.release();
    const run = listener.track(tenantId, id);
    expect(run.signal.aborted).toBe(true);
    expect(run.cancelled()).toBe(true);
    run.release();
    // Heard once: a later run of the same call is not cancelled by it again.
    const again = listener.track(tenantId, id);
    expect(again.signal.aborted).toBe(false);
    again.release();
  });

  it('the worker’s own shutdown aborts the run too, but is not a cancel', async () => {
    const parent = new AbortController();
    const run = listener.track(randomUUID(), callId(), parent.signal);
    parent.abort();
    expect(run.signal.aborted).toBe(true);
    expect(run.cancelled()).toBe(false);
    run.release();
  });
});
