import { z } from 'zod';
import { X_MCP_HEADER } from '../input-schema.js';
import { defineTool, type ToolContentBlock } from '../tool.js';

/**
 * The conformance suite's fixture tools about input schemas (see conformance-content.ts): one whose
 * arguments are mirrored into `Mcp-Param-*` headers (`x-mcp-header`, MCP 2026-07-28), and one whose
 * listed schema is a hand-written JSON Schema 2020-12 document.
 */
const annotations = { readOnlyHint: true, openWorldHint: false, idempotentHint: true } as const;
const blocks = (out: Record<string, unknown>): ToolContentBlock[] => out.content as ToolContentBlock[];
const text = (t: string) => Promise.resolve({ content: [{ type: 'text', text: t }] });

/**
 * `region`, `priority` and `verbose` are mirrored into `Mcp-Param-Region`, `-Priority` and
 * `-Verbose`; the API refuses a 2026-07-28 call whose headers disagree with them (-32020, HTTP 400).
 * `query` is not mirrored.
 */
export const testCustomHeaders = defineTool({
  name: 'test_custom_headers',
  title: 'Custom headers (conformance)',
  description: 'Echoes its header-mirrored arguments. Conformance fixture, test deployments only.',
  input: z
    .object({
      region: z
        .string()
        .max(2000)
        .meta({ [X_MCP_HEADER]: 'Region' }),
      priority: z
        .number()
        .int()
        .min(0)
        .max(1000)
        .optional()
        .meta({ [X_MCP_HEADER]: 'Priority' }),
      verbose: z
        .boolean()
        .optional()
        .meta({ [X_MCP_HEADER]: 'Verbose' }),
      query: z.string().max(2000).optional(),
    })
    .strict(),
  mcpScope: 'tools:test_custom_headers',
  timeoutMs: 30_000,
  annotations,
  testOnly: true,
  content: blocks,
  run: (_ctx, a) => text(`region=${JSON.stringify(a.region)} priority=${a.priority ?? '-'} verbose=${a.verbose ?? '-'}`),
});

/** The schema the suite's `json-schema-2020-12` scenario looks for, keyword for keyword. */
const CONTACT_SCHEMA = {
  $schema: 'https://json-schema.org/draft/2020-12/schema',
  type: 'object',
  $defs: { address: { $anchor: 'addressDef', type: 'object', properties: { street: { type: 'string' }, city: { type: 'string' } } } },
  properties: {
    name: { type: 'string' },
    address: { $ref: '#/$defs/address' },
    contactMethod: { type: 'string', enum: ['phone', 'email'] },
    phone: { type: 'string' },
    email: { type: 'string' },
  },
  allOf: [{ anyOf: [{ required: ['phone'] }, { required: ['email'] }] }],
  if: { properties: { contactMethod: { const: 'phone' } }, required: ['contactMethod'] },
  then: { required: ['phone'] },
  else: { required: ['email'] },
  additionalProperties: false,
} as const;

/**
 * Lists the hand-written 2020-12 schema above as it is (`$schema`, `$defs` with `$anchor`, `$ref`,
 * `allOf`/`anyOf`, `if`/`then`/`else`): the arguments must pass it, then the zod `input`, which
 * types the same fields (and bounds their sizes).
 */
export const jsonSchema2020Tool = defineTool({
  name: 'json_schema_2020_12_tool',
  title: 'JSON Schema 2020-12 (conformance)',
  description: 'Accepts a contact (a phone or an email, as contactMethod says). Conformance fixture, test deployments only.',
  inputJsonSchema: CONTACT_SCHEMA,
  input: z
    .object({
      name: z.string().max(200).optional(),
      address: z.object({ street: z.string().max(200).optional(), city: z.string().max(200).optional() }).optional(),
      contactMethod: z.enum(['phone', 'email']).optional(),
      phone: z.string().max(200).optional(),
      email: z.string().max(200).optional(),
    })
    .strict(),
  mcpScope: 'tools:json_schema_2020_12_tool',
  timeoutMs: 30_000,
  annotations,
  testOnly: true,
  content: blocks,
  run: (_ctx, a) => text(`Contact ${a.name ?? '(no name)'} by ${a.contactMethod ?? (a.phone ? 'phone' : 'email')}.`),
});
