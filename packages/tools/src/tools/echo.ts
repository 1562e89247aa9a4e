import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool } from '../tool.js';

/** Test and benchmark tool: no upstream I/O, an optional delay that honours the abort signal. */
export const echo = defineTool({
  name: 'echo',
  title: 'Echo (test)',
  description: 'Returns the message, after an optional delay. Test deployments only.',
  input: z.object({ message: z.string().max(10_000), delayMs: z.number().int().min(0).max(120_000).default(0) }).strict(),
  output: z.object({ message: z.string(), ranAs: z.string() }),
  mcpScope: 'tools:echo',
  timeoutMs: 130_000,
  testOnly: true,
  async run(ctx, args) {
    if (args.delayMs > 0) {
      try {
        await sleep(args.delayMs, undefined, { signal: ctx.signal });
      } catch (cause) {
        throw new AppError('upstream', 'cancelled', 'echo was aborted', { cause, retryable: true, expose: true });
      }
    }
    return { message: args.message, ranAs: ctx.user.subject };
  },
});
