import type { Credential } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import type { AnyTool } from '@mcprt/tools';
import type { CallStatements } from './call-statements.js';
import type { JobPayload } from './job-payload.js';
import type { ToolCall } from './schema.js';
import { forTenant, type CallsDb } from './tenant-scope.js';

/** What a job is built from: the call's row, or (admission gate) the row being recorded. */
export type JobSource = Pick<ToolCall, 'id' | 'tenantId' | 'userId' | 'tool' | 'requestId'>;

/**
 * The job for a recorded call. The credential's at-rest ciphertext is carried as is: it is already
 * sealed and bound to (tenant, user, credential), so the API never needs to open user tokens.
 */
export function buildJobPayload(call: JobSource, credential: Credential | null | undefined): JobPayload {
  return {
    v: 1,
    callId: call.id,
    tenantId: call.tenantId,
    userId: call.userId,
    tool: call.tool,
    ...(call.requestId ? { requestId: call.requestId } : {}),
    ...(credential
      ? {
          credential: {
            id: credential.id,
            provider: credential.provider,
            sealedAccessToken: credential.accessTokenSealed,
            scopes: credential.scopes,
            expiresAt: credential.expiresAt ? credential.expiresAt.toISOString() : null,
          },
        }
      : {}),
  };
}

/** The audit reason of every refused job (the log line says which fields disagreed). */
export const JOB_MISMATCH = 'job_mismatch';
export const JOB_PAYLOAD_INVALID = 'job_payload_invalid';

/**
 * A job only *names* its call: the call row (Postgres, written by the API) is the truth, and the job
 * must agree with it on every field it carries. Anyone who can write to Redis could
 * otherwise pair a victim's sealed token, user id or tenant with their own call. Returns the fields
 * that disagree (empty: bound).
 *
 * - `jobId`: the producer always uses the call id as the job id (BullMQ then refuses a second job for
 *   the same call), so a job under any other id was not made by the API;
 * - tenant: the row was loaded in the job's tenant, so it agrees by construction; a job naming a call
 *   of another tenant does not find it there (the worker then refuses it in the tenant that owns the call);
 * - user and tool: equal to the row's;
 * - credential: a job for a tool without an upstream carries none; otherwise its id must be the id of
 *   the row user's stored credential for the tool's provider (read tenant-scoped from Postgres), and the
 *   seal is then opened with the *row's* tenant and user, so a token sealed for anyone else fails too.
 */
export function jobMismatch(
  job: JobPayload,
  jobId: string | undefined,
  call: ToolCall,
  tool: AnyTool | undefined,
  stored: Credential | null | undefined,
): string[] {
  const bad: string[] = [];
  if (jobId !== undefined && jobId !== call.id) bad.push('jobId');
  if (job.tenantId !== call.tenantId) bad.push('tenantId');
  if (job.userId !== call.userId) bad.push('userId');
  if (job.tool !== call.tool) bad.push('tool');
  if (job.credential) {
    const c = job.credential;
    if (!tool?.upstream || c.provider !== tool.upstream.provider || !stored || c.id !== stored.id || stored.userId !== call.userId) bad.push('credential');
  }
  return bad;
}

/**
 * Refuse a job that does not match its call, or cannot be read: an audit row (deny, `reason`) in the
 * tenant that owns the call, on the call's own user — never on the user, tenant or credential the job
 * claims, whose data it must not touch. The call row is failed only when this job holds the call's
 * job id: then no other job can run the call (BullMQ keeps one job per id), so it is marked failed
 * (only if not final: a finished call's result is never overwritten) instead of waiting for the
 * reconciler. A job under another id is a stray copy: audited, and the call is left to its own job.
 */
export interface RefuseJobDeps {
  db: Pick<CallsDb, 'db'> & { calls: Pick<CallStatements, 'failIfNotFinal'> };
  log: Pick<Logger, 'warn'>;
  metrics: { toolCalls: { inc(labels: { tool: string; tenant: string; outcome: string }): void } };
}

export async function refuseJob(r: RefuseJobDeps, call: ToolCall, jobId: string | undefined, reason: string, fields: string[]): Promise<'failed' | 'audited'> {
  r.log.warn({ callId: call.id, tenantId: call.tenantId, jobId, reason, fields }, 'refused a job that does not match its call');
  r.metrics.toolCalls.inc({ tool: call.tool, tenant: call.tenantId, outcome: 'refused' });
  const message = 'the queued job for this call was not valid and was refused; please retry the call';
  if (jobId === call.id && (await r.db.calls.failIfNotFinal(call.tenantId, call.id, { code: reason, message, retryable: false }))) return 'failed';
  await forTenant(r.db.db, call.tenantId).audit.append({
    userId: call.userId,
    clientId: call.clientId,
    callId: call.id,
    tool: call.tool,
    action: 'tool_call.job_refused',
    decision: 'deny',
    reason,
    requestId: call.requestId,
  });
  return 'audited';
}
