import { describe, expect, it } from 'vitest';
import { isStalledOut, jobEndError } from './job-end.js';

describe('jobEndError', () => {
  it("BullMQ's stall-limit failure is a poison job; any other end is a lost job", () => {
    expect(isStalledOut('job stalled more than allowable limit')).toBe(true);
    expect(jobEndError('job stalled more than allowable limit')).toMatchObject({ code: 'job_poisoned', retryable: false });
    expect(jobEndError('upstream_error')).toMatchObject({ code: 'job_lost', retryable: true });
    expect(jobEndError(undefined)).toMatchObject({ code: 'job_lost', retryable: true });
  });
});
