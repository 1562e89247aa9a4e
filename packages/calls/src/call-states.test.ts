import { describe, expect, it } from 'vitest';
import {
  CALL_STATES,
  CALL_STATUSES,
  CALL_TRANSITIONS,
  canMove,
  FINAL_STATUSES,
  isFinal,
  OPEN_STATUSES,
  PENDING_SQL,
  PENDING_STATUSES,
  pendingSql,
} from './call-states.js';

describe('call states', () => {
  it('every state is pending, final or awaiting a person (approval, input), never two of them', () => {
    for (const s of CALL_STATUSES) expect(CALL_STATES[s].pending && CALL_STATES[s].final).toBe(false);
    expect(CALL_STATUSES.filter((s) => !CALL_STATES[s].pending && !CALL_STATES[s].final)).toEqual(['awaiting_approval', 'awaiting_input']);
    expect([...PENDING_STATUSES, 'awaiting_approval', 'awaiting_input', ...FINAL_STATUSES].sort()).toEqual([...CALL_STATUSES].sort());
    expect(OPEN_STATUSES).toEqual(['queued', 'running', 'awaiting_approval', 'awaiting_input']);
  });

  it('a task awaiting input only becomes queued (every answer in), failed or cancelled', () => {
    expect(CALL_TRANSITIONS.awaiting_input).toEqual(['queued', 'failed', 'cancelled']);
    expect(canMove('awaiting_input', 'running')).toBe(false);
    expect(canMove('queued', 'awaiting_input')).toBe(false);
  });

  it('a call awaiting approval only becomes queued (approved), failed (denied, expired) or cancelled', () => {
    expect(CALL_TRANSITIONS.awaiting_approval).toEqual(['queued', 'failed', 'cancelled']);
    expect(canMove('awaiting_approval', 'running')).toBe(false);
    expect(canMove('queued', 'awaiting_approval')).toBe(false);
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
