import { sql } from 'drizzle-orm';
import { index, integer, jsonb, pgEnum, pgTable, text, timestamp, uniqueIndex, uuid } from 'drizzle-orm/pg-core';
import { tenants, users } from '@mcprt/db';
import { APPROVERS } from '@mcprt/policy';
import { CALL_STATUSES, PENDING_SQL } from './call-states.js';

/**
 * The `tool_calls` table, owned by the tool-call engine: its status enum and the predicate of its
 * pending-calls index come from the state table (call-states.ts). It lives here rather than in
 * @mcprt/db so that the database package never imports the engine (the engine builds on the
 * database package; the reverse would be a package cycle). packages/db/drizzle.config.ts lists both
 * schema files, so migrations are generated from the whole schema as before.
 */
export const toolCallStatus = pgEnum('tool_call_status', CALL_STATUSES);

export interface ToolCallError {
  code: string;
  message: string;
  retryable?: boolean;
  details?: Record<string, unknown>;
}

export const toolCalls = pgTable(
  'tool_calls',
  {
    /** `call_` + 128 random bits: unguessable, and safe to show the user. */
    id: text('id').primaryKey(),
    tenantId: uuid('tenant_id')
      .notNull()
      .references(() => tenants.id, { onDelete: 'cascade' }),
    userId: uuid('user_id')
      .notNull()
      .references(() => users.id, { onDelete: 'cascade' }),
    clientId: text('client_id'),
    tool: text('tool').notNull(),
    /** Validated arguments, with fields a tool marks sensitive replaced by "[redacted]". */
    arguments: jsonb('arguments').$type<Record<string, unknown>>().notNull(),
    status: toolCallStatus('status').notNull().default('queued'),
    result: jsonb('result').$type<unknown>(),
    error: jsonb('error').$type<ToolCallError>(),
    /** Fencing token: the BullMQ attempt (attemptsStarted) that last wrote the row; an older one cannot write. */
    attempt: integer('attempt').notNull().default(0),
    idempotencyKey: text('idempotency_key'),
    /**
     * Keyed hash of the canonical (tool, arguments) — sensitive ones included, as a hash only — stored
     * when the call has an idempotency key: a repeated key must mean the same request.
     */
    argsHash: text('args_hash'),
    /**
     * The real values of the arguments the tool marks sensitive (the row's `arguments` shows them as
     * "[redacted]"), sealed with the keyring and bound to (tenant, user, call id). Null when none.
     */
    sealedArgs: text('sealed_args'),
    /**
     * The client's answers to the tool's input requests (MCP multi-round-trip requests), sealed with
     * the keyring and bound to (tenant, user, call id), for the run. Null for a tool that asks nothing.
     */
    sealedInput: text('sealed_input'),
    /** Set on a task recorded waiting for its client's answers: until when (then it fails as expired). */
    inputExpiresAt: timestamp('input_expires_at', { withTimezone: true }),
    requestId: text('request_id'),
    /** Set on a call that needed approval: who may give it (`user` or `tenant`), and until when (then it fails as expired). */
    approver: text('approver', { enum: APPROVERS }),
    approvalExpiresAt: timestamp('approval_expires_at', { withTimezone: true }),
    createdAt: timestamp('created_at', { withTimezone: true }).notNull().defaultNow(),
    startedAt: timestamp('started_at', { withTimezone: true }),
    finishedAt: timestamp('finished_at', { withTimezone: true }),
  },
  (t) => [
    // Partial indexes keep the hot path light: most calls carry no idempotency key, and only calls in
    // flight matter to admission control, so a finished call adds no entries to either.
    uniqueIndex('tool_calls_idempotency')
      .on(t.tenantId, t.userId, t.idempotencyKey)
      .where(sql`idempotency_key is not null`),
    index('tool_calls_user_pending').on(t.tenantId, t.userId).where(sql.raw(PENDING_SQL)),
    // The reconciler's scan: queued calls by age.
    index('tool_calls_queued_created')
      .on(t.createdAt)
      .where(sql`status = 'queued'`),
    // Keyset pagination, newest first (GET …/tool-calls, the back office): per user and per tenant.
    // Neither is led by tenant_id itself on purpose: the hot path's statements select by (tenant_id, id),
    // and an index led by tenant_id tempted the planner (before the table's first ANALYZE) into scanning
    // the tenant's every row per final write. user_id is a globally unique uuid; the tenant's list is led
    // by the expression tenant_id::text, which only a statement that names it can use
    // (`tenantCallsByAge` in call-history.ts): the tenant's calls in creation order, whatever other
    // tenants wrote meanwhile.
    // The expiry sweep's scan: calls that needed approval, by deadline, until they finish.
    index('tool_calls_awaiting_approval')
      .on(t.approvalExpiresAt)
      .where(sql`approval_expires_at is not null and finished_at is null`),
    // The same sweep's scan for tasks waiting for their client's answers.
    index('tool_calls_awaiting_input')
      .on(t.inputExpiresAt)
      .where(sql`input_expires_at is not null and finished_at is null`),
    index('tool_calls_user_created').on(t.userId, t.createdAt, t.id),
    index('tool_calls_tenant_created').on(sql`(${t.tenantId}::text)`, t.createdAt, t.id),
  ],
);

/** A call row as the repositories and call statements return it. */
export type ToolCall = typeof toolCalls.$inferSelect;
