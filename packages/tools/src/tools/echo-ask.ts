import { createHash } from 'node:crypto';
import { z } from 'zod';
import { acceptedContent, elicitText } from '../input-requests.js';
import { defineTool } from '../tool.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');

/**
 * Test tool for multi-round-trip requests through the whole path (API rounds, the sealed request
 * state, the sealed answers beside the row, the worker): it asks the user for each named field in
 * its own round (an elicitation), then runs in a worker like any call and answers with the SHA-256
 * of each answer only, so a test can prove the answers reached the tool without the result, the row,
 * the job, the logs or the audit holding them in clear. A declined field answers `declined`.
 */
export const echoAsk = defineTool({
  name: 'echo_ask',
  title: 'Echo, asking first (test)',
  description: 'Asks the user for each named field, one round each, then answers with their SHA-256. Test deployments only.',
  input: z
    .object({
      message: z.string().max(1_000),
      fields: z
        .array(z.string().regex(/^[a-z][a-z0-9_]{0,39}$/))
        .min(1)
        .max(5),
    })
    .strict(),
  output: z.object({ message: z.string(), ranAs: z.string(), answersSha256: z.record(z.string(), z.string()) }),
  mcpScope: 'tools:echo_ask',
  timeoutMs: 30_000,
  annotations: { readOnlyHint: true, openWorldHint: false, idempotentHint: true },
  testOnly: true,
  inputs: {
    // One round per field, in order: the first field not answered yet.
    needs: (args, responses) => {
      const next = args.fields.find((f) => !Object.hasOwn(responses, f));
      return next ? { [next]: elicitText(`echo_ask needs "${next}" for: ${args.message}`, { value: `The value of ${next}` }) } : {};
    },
  },
  run: (ctx, args) => {
    const answers = Object.fromEntries(
      args.fields.map((f) => {
        const value = acceptedContent(ctx.inputResponses[f])?.value;
        return [f, typeof value === 'string' ? sha256(value) : 'declined'];
      }),
    );
    return Promise.resolve({ message: args.message, ranAs: ctx.user.subject, answersSha256: answers });
  },
});
