import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { headerParams, inputSchemaOf, X_MCP_HEADER } from './input-schema.js';
import { createToolRegistry } from './registry.js';
import type { AnyTool } from './tool.js';

/** A tool whose listed schema is `schema` (only what the scan reads). */
const toolWith = (schema: Record<string, unknown>) =>
  ({ name: 't', input: z.object({}), inputJsonSchema: { type: 'object', ...schema } }) as unknown as AnyTool;
const prop = (type: string, name: unknown) => ({ type, [X_MCP_HEADER]: name });

describe('header-mirrored arguments (x-mcp-header)', () => {
  it('are read from the listed schema, nested properties included', () => {
    const t = toolWith({ properties: { a: prop('string', 'A'), o: { type: 'object', properties: { n: prop('integer', 'N-1') } }, b: prop('boolean', 'B') } });
    expect(headerParams(t)).toEqual([
      { path: ['a'], name: 'A', type: 'string' },
      { path: ['o', 'n'], name: 'N-1', type: 'integer' },
      { path: ['b'], name: 'B', type: 'boolean' },
    ]);
  });

  it.each([
    ['an empty name', { properties: { a: prop('string', '') } }, /token/],
    ['a name with a space', { properties: { a: prop('string', 'My Region') } }, /token/],
    ['a name with a colon', { properties: { a: prop('string', 'Region:1') } }, /token/],
    ['a non-ASCII name', { properties: { a: prop('string', 'Région') } }, /token/],
    ['a number property', { properties: { a: prop('number', 'A') } }, /string, integer or boolean/],
    ['an object property', { properties: { a: prop('object', 'A') } }, /string, integer or boolean/],
    ['the same name twice, ignoring case', { properties: { a: prop('string', 'Region'), b: prop('string', 'region') } }, /twice/],
    ['a declaration under items', { properties: { a: { type: 'array', items: prop('string', 'A') } } }, /through `properties` alone/],
    ['a declaration under anyOf', { anyOf: [{ properties: { a: prop('string', 'A') } }] }, /through `properties` alone/],
    ['a declaration under $defs', { $defs: { d: { properties: { a: prop('string', 'A') } } } }, /through `properties` alone/],
    ['a declaration on the root', { [X_MCP_HEADER]: 'Root' }, /through `properties` alone/],
  ])('refuse %s', (_label, schema, why) => {
    expect(() => headerParams(toolWith(schema))).toThrow(why);
  });

  it('every tool of the deployment declares only what the spec allows (the registry checks at build)', () => {
    const r = createToolRegistry({ includeTestTools: true });
    for (const name of r.names()) expect(() => headerParams(r.get(name)!)).not.toThrow();
    expect(headerParams(r.get('test_custom_headers')!).map((p) => p.name)).toEqual(['Region', 'Priority', 'Verbose']);
    // A hand-written schema is listed as written; the others are generated from zod.
    expect(inputSchemaOf(r.get('json_schema_2020_12_tool')!)).toHaveProperty('$schema', 'https://json-schema.org/draft/2020-12/schema');
    expect(inputSchemaOf(r.get('echo')!)).not.toHaveProperty('$schema');
  });
});
