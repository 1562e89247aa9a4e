import type { Credential } from '@mcprt/db';
import type { ToolRegistry } from '@mcprt/tools';
import { buildJobPayload } from './job-binding.js';
import type { Producer } from './producer.js';
import type { ToolCall } from './schema.js';
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
 */
export async function enqueueCall(r: EnqueueDeps, call: ToolCall, credential?: Credential | null): Promise<void> {
  let cred = credential;
  if (cred === undefined) {
    const upstream = r.registry.get(call.tool)?.upstream;
    cred = upstream ? await forTenant(r.db.db, call.tenantId).credentials.get(call.userId, upstream.provider) : null;
  }
  await r.producer.enqueue(buildJobPayload(call, cred));
}
