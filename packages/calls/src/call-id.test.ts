import { describe, expect, it } from 'vitest';
import { CALL_ID_PATTERN, callIdSchema, isCallId, newCallId, parseCallId } from './call-id.js';

describe('call id', () => {
  it('makes unguessable ids of one shape, each different', () => {
    const ids = new Set(Array.from({ length: 600 }, () => newCallId()));
    expect(ids.size).toBe(600);
    for (const id of ids) expect(id).toMatch(CALL_ID_PATTERN);
  });

  it('parses only that shape', () => {
    const id = newCallId();
    expect(isCallId(id)).toBe(true);
    expect(parseCallId(id)).toBe(id);
    for (const bad of ['', 'call_', `${id}x`, id.slice(0, -1), id.replace('call_', 'task_'), 'call_AAAAAAAAAAAAAAAAAAAAA!', 42, null, undefined]) {
      expect(isCallId(bad)).toBe(false);
      expect(parseCallId(bad)).toBeUndefined();
    }
    expect(callIdSchema.safeParse(id).success).toBe(true);
    expect(callIdSchema.safeParse('1').success).toBe(false);
  });
});
