import { upstreamOf } from '@mcprt/providers';
import { AppError } from '@mcprt/errors';
import { deadline } from '@mcprt/egress';
import { upstreamClientFor, type UpstreamCredential } from '@mcprt/tools';
import type { Allowed } from './recheck-policy.js';
import type { CallRun } from './run.js';
import { withTokenRetry, type UpstreamToken } from './upstream-token.js';

/**
 * Run the tool with its timeout and the run's abort signal (a 401 refreshes the token once, see
 * `withTokenRetry`), then check what it returned: the tool's output schema and its own size cap.
 */
export async function runTool(
  run: CallRun,
  allowed: Allowed,
  args: Record<string, unknown>,
  token: UpstreamToken | undefined,
  inputResponses: Record<string, unknown>,
): Promise<unknown> {
  const { tool } = allowed;
  const raw = await withTokenRetry(token, (credential) => runOnce(run, allowed, { args, inputResponses }, credential));
  const result = tool.output ? tool.output.parse(raw) : raw;
  // Only tools that declare a cap pay for the measure.
  if (tool.maxResultBytes !== undefined) {
    const size = Buffer.byteLength(JSON.stringify(result));
    if (size > tool.maxResultBytes)
      throw new AppError(
        'upstream',
        'result_too_large',
        `${tool.name} produced ${size} bytes, more than its limit of ${tool.maxResultBytes}; narrow the request`,
        {
          expose: true,
          retryable: false,
        },
      );
  }
  return result;
}

async function runOnce(
  { r, attempt }: CallRun,
  { tenant, user, tool }: Allowed,
  { args, inputResponses }: { args: Record<string, unknown>; inputResponses: Record<string, unknown> },
  credential: UpstreamCredential | undefined,
) {
  const limit = deadline(attempt.signal, tool.timeoutMs);
  try {
    return await tool.run(
      {
        signal: limit.signal,
        tenant: {
          id: tenant.id,
          slug: tenant.slug,
          idpIssuer: tenant.idpIssuer,
          idpKind: tenant.idpKind,
          apiBase: (provider) => upstreamOf(tenant, provider)?.apiBase,
          scavioKeySealed: tenant.scavioKeySealed,
        },
        user,
        credential,
        // Only tools with a Google/GitHub upstream get one (a small object; no I/O).
        upstream: upstreamClientFor(r.services, tool.upstream, credential, tenant.slug, limit.signal),
        services: r.services,
        inputResponses,
      },
      args,
    );
  } catch (e) {
    // Out of time: say so (retryable), whatever the tool made of the abort.
    if (limit.signal.aborted && !attempt.signal.aborted)
      throw new AppError('upstream', 'tool_timeout', `${tool.name} did not finish within ${tool.timeoutMs} ms`, { cause: e, retryable: true, expose: true });
    throw e;
  } finally {
    limit.clear();
  }
}
