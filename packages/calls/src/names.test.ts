import { createToolRegistry } from '@mcprt/tools';
import { describe, expect, it } from 'vitest';
import { isAnnouncedJob, jobName } from './names.js';

describe('job names', () => {
  it('a job added through the admission gate is told apart by its name; the tool stays readable in it', () => {
    expect(jobName('echo', false)).toBe('echo');
    expect(jobName('echo', true)).toMatch(/^echo/);
    expect(isAnnouncedJob(jobName('echo', true))).toBe(true);
    expect(isAnnouncedJob(jobName('echo', false))).toBe(false);
  });

  it("no tool's own name reads as an announced job", () => {
    const names = createToolRegistry({ includeTestTools: true }).names();
    expect(names.length).toBeGreaterThan(3);
    expect(names.filter((n) => isAnnouncedJob(jobName(n, false)))).toEqual([]);
  });
});
