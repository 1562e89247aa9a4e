import { AppError } from '@mcprt/errors';
import { TRACEPARENT_PATTERN } from '@mcprt/observability';
import { z } from 'zod';
import { callIdSchema } from './call-id.js';

/**
 * What a job carries (versioned; both sides validate). Arguments stay in the tool_calls row (the
 * worker reads them there), so the queue holds no user data beyond ids. The upstream access token
 * travels only sealed: AES-256-GCM bound to (tenant, user, credential) — Redis never sees it in clear.
 * Whoever can write to Redis can write a job, so the worker treats every field as a claim: it checks
 * them against the call row and the stored credential, and opens the seal with the row's ids
 * (apps/worker/src/job-binding.ts). Strict: an unknown field or a wrong type is refused, not ignored.
 *
 * `trace`: the W3C trace context of the API's enqueue span, so the worker's spans join the call's
 * trace. Optional, and written only while tracing is on: a job without it (queued before, or tracing
 * off) is as valid as ever. A worker older than this field refuses a job that carries it (strict), so
 * tracing is turned on after every worker runs this version (docs/operations.md, "Tracing").
 */
export const jobPayloadV1 = z
  .object({
    v: z.literal(1),
    callId: callIdSchema,
    tenantId: z.uuid(),
    userId: z.uuid(),
    tool: z.string().min(1).max(64),
    requestId: z.string().max(128).optional(),
    credential: z
      .object({
        id: z.uuid(),
        provider: z.string().min(1),
        sealedAccessToken: z.string().startsWith('v1.'),
        scopes: z.array(z.string()),
        expiresAt: z.iso.datetime().nullable(),
      })
      .strict()
      .optional(),
    trace: z
      .object({ traceparent: z.string().regex(TRACEPARENT_PATTERN), tracestate: z.string().max(512).optional() })
      .strict()
      .optional(),
  })
  .strict();

export type JobPayload = z.infer<typeof jobPayloadV1>;

export function parseJobPayload(data: unknown): JobPayload {
  const r = jobPayloadV1.safeParse(data);
  if (r.success) return r.data;
  // Not retryable: the same bytes will fail the same way. Field paths only, never values.
  throw new AppError('validation', 'job_payload_invalid', `job payload invalid at ${r.error.issues.map((i) => i.path.join('.') || '(root)').join(', ')}`, {
    retryable: false,
  });
}
