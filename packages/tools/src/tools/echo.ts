import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool } from '../tool.js';

/**
 * Test and benchmark tool: no upstream I/O, an optional delay that honours the abort signal. `secret`
 * is a sensitive argument (stored "[redacted]", sealed for the run): echo answers with its SHA-256
 * only, so a test can prove the real value reached the tool without the result carrying it.
 */
export const echo = defineTool({
  name: 'echo',
  title: 'Echo (test)',
  description: 'Returns the message, after an optional delay. Test deployments only.',
  input: z
    .object({ message: z.string().max(10_000), delayMs: z.number().int().min(0).max(120_000).default(0), secret: z.string().max(1_000).optional() })
    .strict(),
  output: z.object({ message: z.string(), ranAs: z.string(), secretSha256: z.string().optional() }),
  mcpScope: 'tools:echo',
  timeoutMs: 130_000,
  testOnly: true,
  sensitiveArgs: ['secret'],
  async run(ctx, args) {
    if (args.delayMs > 0) {
      try {
        await sleep(args.delayMs, undefined, { signal: ctx.signal });
      } catch (cause) {
        throw new AppError('upstream', 'cancelled', 'echo was aborted', { cause, retryable: true, expose: true });
      }
    }
    const out = { message: args.message, ranAs: ctx.user.subject };
    return args.secret === undefined ? out : { ...out, secretSha256: createHash('sha256').update(args.secret).digest('hex') };
  },
});
