import { describe, expect, it } from 'vitest';
import { CallLogFollower } from './call-logs.js';

/** The API side of tools' log messages, over a source the test drives (every replica hears every message). */
function follower() {
  let emit!: (callId: string, tenantId: string, json: string) => void;
  const f = new CallLogFollower(async (fn) => {
    emit = fn;
    return { unlisten: async () => {} };
  });
  return { f, emit: (...a: Parameters<typeof emit>) => emit(...a) };
}
const msg = (data: string) => JSON.stringify({ level: 'info', data });

describe('CallLogFollower', () => {
  it('passes a followed call’s messages on, those that came before the follow first; stops when told', async () => {
    const { f, emit } = follower();
    await Promise.resolve();
    emit('call_a', 't1', msg('early'));
    const got: unknown[] = [];
    const stop = f.follow('t1', 'call_a', (m) => got.push(m.data));
    emit('call_a', 't1', msg('later'));
    stop();
    emit('call_a', 't1', msg('after stop'));
    expect(got).toEqual(['early', 'later']);
  });

  it('never across tenants, never another call’s, never a malformed or unknown-level message', async () => {
    const { f, emit } = follower();
    await Promise.resolve();
    emit('call_a', 't2', msg('other tenant, early'));
    const got: unknown[] = [];
    f.follow('t1', 'call_a', (m) => got.push(m.data));
    emit('call_a', 't2', msg('other tenant'));
    emit('call_b', 't1', msg('other call'));
    emit('call_a', 't1', 'not json');
    emit('call_a', 't1', JSON.stringify({ level: 'loud', data: 'x' }));
    emit('call_a', 't1', JSON.stringify({ level: 'info', data: 'x', extra: 1 }));
    emit('call_a', 't1', msg('mine'));
    expect(got).toEqual(['mine']);
  });
});
