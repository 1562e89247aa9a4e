import { setTimeout as sleep } from 'node:timers/promises';
import { appError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool, type ToolContentBlock } from '../tool.js';

/**
 * The tasks-extension fixture tools of the MCP conformance suite (see conformance-content.ts): a
 * quick one (`greet`, answered at once), a slow one (`slow_compute`, a task when it outlives the
 * wait, cancellable), and two that fail (a tool execution error, an internal failure).
 */
const annotations = { readOnlyHint: true, openWorldHint: false, idempotentHint: true } as const;
const blocks = (out: Record<string, unknown>): ToolContentBlock[] => out.content as ToolContentBlock[];

export const greet = defineTool({
  name: 'greet',
  title: 'Greet (conformance)',
  description: 'Returns "Hello, <name>!". Conformance fixture, test deployments only.',
  input: z.object({ name: z.string().max(200) }).strict(),
  mcpScope: 'tools:greet',
  taskSupport: 'forbidden',
  timeoutMs: 30_000,
  annotations,
  testOnly: true,
  content: blocks,
  run: (_ctx, args) => Promise.resolve({ content: [{ type: 'text', text: `Hello, ${args.name}!` }] }),
});

export const slowCompute = defineTool({
  name: 'slow_compute',
  title: 'Slow compute (conformance)',
  description: 'Sleeps the given seconds, then answers; cancellable while it sleeps. Conformance fixture, test deployments only.',
  // `label`: the suite tags each call with one (ignored).
  input: z.object({ seconds: z.number().min(0).max(60).default(2), label: z.string().max(200).optional() }).strict(),
  mcpScope: 'tools:slow_compute',
  taskSupport: 'optional',
  timeoutMs: 70_000,
  annotations,
  testOnly: true,
  content: blocks,
  async run(ctx, args) {
    try {
      await sleep(args.seconds * 1000, undefined, { signal: ctx.signal });
    } catch (cause) {
      throw appError('cancelled', 'slow_compute was cancelled', { cause });
    }
    return { content: [{ type: 'text', text: `Computed after ${args.seconds} seconds.` }] };
  },
});

export const failingJob = defineTool({
  name: 'failing_job',
  title: 'Failing job (conformance)',
  description: 'Fails with a tool execution error after about a second. Conformance fixture, test deployments only.',
  input: z.object({ label: z.string().max(200).optional() }).strict(),
  mcpScope: 'tools:failing_job',
  taskSupport: 'required',
  timeoutMs: 30_000,
  annotations,
  testOnly: true,
  async run(ctx) {
    await sleep(1_000, undefined, { signal: ctx.signal });
    throw appError('tool_failed', 'failing_job failed on purpose');
  },
});

export const protocolErrorJob = defineTool({
  name: 'protocol_error_job',
  title: 'Protocol error job (conformance)',
  description: 'Fails with an internal error (not a tool result). Conformance fixture, test deployments only.',
  input: z.object({ label: z.string().max(200).optional() }).strict(),
  mcpScope: 'tools:protocol_error_job',
  taskSupport: 'required',
  timeoutMs: 30_000,
  annotations,
  testOnly: true,
  async run(ctx) {
    await sleep(500, undefined, { signal: ctx.signal });
    throw new Error('protocol_error_job: an internal failure on purpose');
  },
});
