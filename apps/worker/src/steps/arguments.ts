import type { ToolCall } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import { openCallArguments } from '@mcprt/keyring';
import { parseArguments, REDACTED, type AnyTool } from '@mcprt/tools';
import type { WorkerResources } from '../resources.js';

/**
 * The arguments the tool runs with. Sensitive ones: the row holds "[redacted]", the real values are
 * sealed to this call and opened with the row's ids. Validated again here: the row may come from an
 * older API version or be tampered with.
 */
export function callArguments(r: WorkerResources, call: ToolCall, tool: AnyTool): Record<string, unknown> {
  let runArgs = call.arguments;
  if (call.sealedArgs)
    runArgs = { ...runArgs, ...openCallArguments(r.keyring, { tenantId: call.tenantId, userId: call.userId, callId: call.id }, call.sealedArgs) };
  else if (tool.sensitiveArgs?.some((k) => runArgs[k] === REDACTED))
    throw new AppError('validation', 'sensitive_arguments_unavailable', 'the sensitive arguments of this call are not available; please call again', {
      expose: true,
    });
  const args = parseArguments(tool, runArgs);
  if (!args.ok) throw new AppError('validation', 'invalid_arguments', args.message);
  return args.value;
}
