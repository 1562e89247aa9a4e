import { createHash, randomUUID } from 'node:crypto';
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
    .object({
      message: z.string().max(10_000),
      delayMs: z.number().int().min(0).max(120_000).default(0),
      secret: z.string().max(1_000).optional(),
      // Tests only: the tool reports its own start and end (POST JSON) to this URL, so a test observes
      // what really ran at once, not our bookkeeping.
      probeUrl: z.url().max(500).optional(),
    })
    .strict(),
  output: z.object({ message: z.string(), ranAs: z.string(), secretSha256: z.string().optional() }),
  mcpScope: 'tools:echo',
  timeoutMs: 130_000,
  annotations: { readOnlyHint: true, openWorldHint: false, idempotentHint: true },
  testOnly: true,
  sensitiveArgs: ['secret'],
  async run(ctx, args) {
    const run = randomUUID();
    const probe = (event: 'start' | 'end' | 'aborted', signal = ctx.signal) =>
      args.probeUrl
        ? ctx.services.egress
            .request(args.probeUrl, {
              method: 'POST',
              headers: { 'content-type': 'application/json' },
              body: JSON.stringify({ event, run, pid: process.pid, user: ctx.user.subject, message: args.message }),
              signal,
              service: 'the echo probe',
            })
            .then((r) => r.text())
        : undefined;
    await probe('start');
    if (args.delayMs > 0) {
      try {
        await sleep(args.delayMs, undefined, { signal: ctx.signal });
      } catch (cause) {
        // Tests observe that the tool itself saw the abort (its own signal is spent: a fresh one).
        await probe('aborted', AbortSignal.timeout(2_000))?.catch(() => undefined);
        throw new AppError('upstream', 'cancelled', 'echo was aborted', { cause, retryable: true, expose: true });
      }
    }
    await probe('end');
    const out = { message: args.message, ranAs: ctx.user.subject };
    return args.secret === undefined ? out : { ...out, secretSha256: createHash('sha256').update(args.secret).digest('hex') };
  },
});
