import { describe, expect, it } from 'vitest';
import { CALL_STATES, CALL_STATUSES, CALL_TRANSITIONS, canMove, FINAL_STATUSES, isFinal, PENDING_SQL, PENDING_STATUSES, pendingSql } from './call-states.js';

describe('call states', () => {
  it('every state is pending or final, never both', () => {
    for (const s of CALL_STATUSES) expect(CALL_STATES[s].pending).toBe(!CALL_STATES[s].final);
    expect([...PENDING_STATUSES, ...FINAL_STATUSES].sort()).toEqual([...CALL_STATUSES].sort());
  });

  it('a final state has no way out; every pending state can become each final one', () => {
    for (const s of FINAL_STATUSES) expect(CALL_TRANSITIONS[s]).toEqual([]);
    for (const from of PENDING_STATUSES) for (const to of FINAL_STATUSES) expect(canMove(from, to)).toBe(true);
    expect(canMove('succeeded', 'cancelled')).toBe(false);
    expect(isFinal({ status: 'cancelled' })).toBe(true);
    expect(isFinal({ status: 'running' })).toBe(false);
  });

  it('derives the SQL fence from the table', () => {
    expect(PENDING_SQL).toBe("status in ('queued', 'running')");
    expect(pendingSql('t.status')).toBe("t.status in ('queued', 'running')");
  });
});
