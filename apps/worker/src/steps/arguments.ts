import type { ToolCall } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import { openCallArguments, openCallInput } from '@mcprt/keyring';
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

const NO_INPUT: Readonly<Record<string, unknown>> = Object.freeze({});

/**
 * The client's answers to the tool's input requests (MCP multi-round-trip requests), sealed to this
 * call beside the row and opened for the run only; none for a call of a tool that asks nothing.
 */
export function callInput(r: WorkerResources, call: ToolCall): Record<string, unknown> {
  if (!call.sealedInput) return NO_INPUT;
  return openCallInput(r.keyring, { tenantId: call.tenantId, userId: call.userId, callId: call.id }, call.sealedInput);
}
