/** The BullMQ queue every tool call goes through. Keys live under the configured prefix (a hash tag). */
export const TOOL_CALLS_QUEUE = 'tool-calls';

/**
 * A job's BullMQ name: its tool's, plus ANNOUNCED_SUFFIX for a job added while its row was still being
 * recorded (the admission gate, statements/admission-gate.ts): that row reaches the worker by its
 * admission notice, so the worker waits for the notice instead of reading first. `@` is not a tool-name
 * character, so no tool's own name ends so. The name is only a hint: a job that lies about it waits a
 * few milliseconds, then its row is read as any other's; a worker that ignores it reads first as before.
 */
const ANNOUNCED_SUFFIX = '@gated';
export const jobName = (tool: string, announced: boolean): string => (announced ? `${tool}${ANNOUNCED_SUFFIX}` : tool);
export const isAnnouncedJob = (name: string): boolean => name.endsWith(ANNOUNCED_SUFFIX);
