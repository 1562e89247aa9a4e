import { appError } from '@mcprt/errors';
import { z } from 'zod';
import { CALL_STATUSES, callIdSchema } from '@mcprt/calls';

/**
 * The zod schemas that validate the history APIs — the same objects the OpenAPI
 * document at /v1/openapi.json is generated from (openapi.ts), so the document cannot drift from
 * what the routes accept.
 */

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const isoTime = (what: string) =>
  z.iso
    .datetime({ offset: true, message: `${what} must be an ISO 8601 date-time with a time zone, e.g. 2026-11-01T00:00:00Z` })
    .transform((s) => new Date(s))
    .meta({ description: `${what} (ISO 8601 date-time with offset)`, example: '2026-11-01T00:00:00Z' });

const limit = z.coerce
  .number({ message: 'limit must be a number' })
  .int('limit must be an integer')
  .min(1, 'limit must be at least 1')
  .max(200, 'limit must be at most 200')
  .default(50)
  .meta({ description: 'page size (1-200, default 50)' });

const cursor = z
  .string()
  .max(200, 'cursor is too long')
  .regex(/^[A-Za-z0-9_-]+$/, 'cursor is not one this API returned')
  .meta({ description: 'opaque: the `nextCursor` of the previous page' });

const tool = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, 'tool must be a tool name (a-z, 0-9, _)')
  .meta({ description: 'only calls of this tool' });

const callStatus = z.enum(CALL_STATUSES, { message: `status must be one of ${CALL_STATUSES.join(', ')}` });

const timeRange = <T extends z.ZodRawShape>(shape: T) =>
  z.strictObject({ ...shape, since: isoTime('since').optional(), until: isoTime('until').optional() }, { message: 'unknown query parameter' }).refine(
    (q) => {
      const { since, until } = q as { since?: Date; until?: Date };
      return !(since && until) || since < until;
    },
    { message: 'until must be later than since', path: ['until'] },
  );

/** GET /t/:tenant/v1/tool-calls — the signed-in user's own calls, newest first. */
export const userCallsQuery = timeRange({ status: callStatus.optional(), tool: tool.optional(), cursor: cursor.optional(), limit });

/** GET /t/:tenant/v1/audit-events — the signed-in user's own audit history, newest first. */
export const userAuditQuery = timeRange({
  action: z.string().max(100).optional().meta({ description: 'e.g. tool_call.accepted' }),
  decision: z.enum(['allow', 'deny', 'info'], { message: 'decision must be allow, deny or info' }).optional(),
  tool: tool.optional(),
  cursor: cursor.optional(),
  limit,
});

const userFilter = z.string().regex(UUID, 'user must be a user id (uuid)').meta({ description: "only this user's rows (user id)" });

/** GET /t/:tenant/v1/admin/tool-calls — every user's calls (API key with calls:read). */
export const adminCallsQuery = timeRange({
  user: userFilter.optional(),
  status: callStatus.optional(),
  tool: tool.optional(),
  cursor: cursor.optional(),
  limit,
});

/** GET /t/:tenant/v1/admin/audit-events — every audit row (API key with audit:read); NDJSON export with Accept: application/x-ndjson. */
export const adminAuditQuery = timeRange({
  user: userFilter.optional(),
  action: z.string().max(100).optional(),
  decision: z.enum(['allow', 'deny', 'info'], { message: 'decision must be allow, deny or info' }).optional(),
  tool: tool.optional(),
  cursor: cursor.optional(),
  limit,
});

export const callIdParam = z.object({ tenant: z.string(), id: callIdSchema });
export const tenantParam = z.object({ tenant: z.string().meta({ description: 'tenant slug' }) });

// ---- responses ----

export const callView = z
  .object({
    id: z.string(),
    userId: z.string().optional().meta({ description: 'back office only' }),
    tool: z.string(),
    arguments: z.record(z.string(), z.unknown()).meta({ description: 'as stored: sensitive arguments show "[redacted]"' }),
    status: callStatus,
    attempt: z.number().int(),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    result: z.unknown().meta({ description: 'the MCP CallToolResult once final, else null' }),
    error: z.object({ code: z.string(), message: z.string() }).loose().nullable(),
  })
  .meta({ id: 'ToolCall' });

const auditEventView = z
  .object({
    id: z.number().int(),
    tenantId: z.string(),
    userId: z.string().nullable(),
    clientId: z.string().nullable(),
    callId: z.string().nullable(),
    tool: z.string().nullable(),
    action: z.string(),
    decision: z.string(),
    reason: z.string().nullable(),
    requestId: z.string().nullable(),
    at: z.string().meta({ description: 'UTC with microseconds, exactly as hashed by checkpoints' }),
  })
  .meta({ id: 'AuditEvent' });

const page = <T extends z.ZodType>(item: T, id: string) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable().meta({ description: 'null on the last page' }) }).meta({ id });

export const callPage = page(callView, 'ToolCallPage');
export const auditPage = page(auditEventView, 'AuditEventPage');

export const errorBody = z
  .object({ error: z.string(), error_description: z.string(), request_id: z.string() })
  .meta({ id: 'Error', description: 'error: a stable code; error_description names the parameter and the rule' });

export const auditKeysBody = z
  .object({
    keys: z.array(
      z.object({ kty: z.literal('OKP'), crv: z.literal('Ed25519'), x: z.string(), kid: z.string(), alg: z.literal('EdDSA'), use: z.literal('sig') }),
    ),
  })
  .meta({ id: 'AuditKeys' });

/** Parse a query string object with `schema`; the first problem becomes a specific 400. */
export function parseQuery<T extends z.ZodType>(schema: T, query: unknown): z.output<T> {
  const r = schema.safeParse(query);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  const where = issue.code === 'unrecognized_keys' ? issue.keys.join(', ') : issue.path.join('.');
  // A malformed cursor is refused like any other cursor the endpoint did not return (cursor.ts).
  throw appError(where === 'cursor' ? 'invalid_cursor' : 'invalid_query', `${where ? `${where}: ` : ''}${issue.message}`);
}
