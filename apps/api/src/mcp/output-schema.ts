import { jsonSchemaOf, type AnyTool } from '@mcprt/tools';
import { PENDING_OUTPUT_SCHEMA } from '../calls/call-result.js';

type JsonObjectSchema = { type: 'object'; [k: string]: unknown };
const cache = new WeakMap<AnyTool, JsonObjectSchema>();

/**
 * The `outputSchema` tools/list advertises for a tool with an output: its own, or the "still
 * running" shape (calls/call-result.ts), so an answer past the wait is a plain result that conforms.
 * Built once per tool.
 */
export function advertisedOutputSchema(tool: AnyTool & { output: NonNullable<AnyTool['output']> }): JsonObjectSchema {
  let s = cache.get(tool);
  if (!s) {
    s = { type: 'object', anyOf: [jsonSchemaOf(tool.output, 'output'), PENDING_OUTPUT_SCHEMA] };
    cache.set(tool, s);
  }
  return s;
}
