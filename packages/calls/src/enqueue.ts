import type { Credential } from '@mcprt/db';
import { activeCarrier, inSpan, tracingOn } from '@mcprt/observability';
import type { ToolRegistry } from '@mcprt/tools';
import { buildJobPayload, type JobSource } from './job-binding.js';
import { TOOL_CALLS_QUEUE } from './names.js';
import type { Producer } from './producer.js';
import { forTenant, type CallsDb } from './tenant-scope.js';

export interface EnqueueDeps {
  db: Pick<CallsDb, 'db'>;
  registry: Pick<ToolRegistry, 'get'>;
  producer: Pick<Producer, 'enqueue'>;
}

/**
 * Put a recorded call on the queue: the tool's upstream credential (read from the call's tenant and
 * user unless the caller has just read it: `credential`, null for none), the job built from the row,
 * then the add (job id = call id, so adding a call twice is a no-op). The one way a call reaches the
 * queue: at submit, and again from the reconciler for a call whose job never arrived or was lost.
 * Traced as the PRODUCER span `send tool-calls`, whose context the job carries (`trace`). `announced`:
 * the row is still being recorded and will be announced (the admission gate; names.ts, `jobName`).
 */
export async function enqueueCall(r: EnqueueDeps, call: JobSource, credential?: Credential | null, announced = false): Promise<void> {
  let cred = credential;
  if (cred === undefined) {
    const upstream = r.registry.get(call.tool)?.upstream;
    cred = upstream ? await forTenant(r.db.db, call.tenantId).credentials.get(call.userId, upstream.provider) : null;
  }
  const job = buildJobPayload(call, cred);
  if (!tracingOn()) return r.producer.enqueue(job, announced);
  await inSpan(SEND_SPAN, { kind: 'producer', attributes: sendAttributes(call) }, async () => {
    const trace = activeCarrier();
    await r.producer.enqueue(trace ? { ...job, trace } : job, announced);
  });
}

const SEND_SPAN = `send ${TOOL_CALLS_QUEUE}`;
const sendAttributes = (call: JobSource) => ({
  'messaging.system': 'bullmq',
  'messaging.operation.type': 'send',
  'messaging.destination.name': TOOL_CALLS_QUEUE,
  'messaging.message.id': call.id,
  'mcprt.call.id': call.id,
  'gen_ai.tool.name': call.tool,
});
