import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { z } from 'zod';
import type { AnyTool } from './tool.js';

/**
 * A tool's input schema as `tools/list` shows it, and what is derived from it: the arguments a
 * client mirrors into `Mcp-Param-*` headers (`x-mcp-header`, MCP 2026-07-28), and the check of a
 * hand-written schema. The schema is declared once, on the tool definition (`input`, or
 * `inputJsonSchema`); everything here reads that one declaration.
 */

export type JsonObjectSchema = { type: 'object'; [k: string]: unknown };
const cache = new WeakMap<z.ZodType, JsonObjectSchema>();

/** JSON Schema (draft 2020-12) of a zod schema, for MCP tools/list, generated once per schema. */
export function jsonSchemaOf(schema: z.ZodObject, io: 'input' | 'output'): JsonObjectSchema {
  let s = cache.get(schema);
  if (!s) {
    const { $schema: _drop, ...rest } = z.toJSONSchema(schema, { io, target: 'draft-2020-12' }) as Record<string, unknown>;
    s = { ...rest, type: 'object' };
    cache.set(schema, s);
  }
  return s;
}

/** The input schema `tools/list` advertises: the tool's hand-written one, else the one generated from its zod `input`. */
export function inputSchemaOf(tool: AnyTool): JsonObjectSchema {
  return tool.inputJsonSchema ?? jsonSchemaOf(tool.input, 'input');
}

/**
 * The schema keyword that mirrors an argument into a header: `z.string().meta({ [X_MCP_HEADER]: 'Region' })`
 * on a property of a tool's `input` makes clients send `Mcp-Param-Region` with the argument's value.
 */
export const X_MCP_HEADER = 'x-mcp-header';

/** One argument mirrored into a header: where it is in the arguments, the header's name suffix, its JSON type. */
export interface HeaderParam {
  path: readonly string[];
  /** The `Mcp-Param-` suffix as declared (header names compare case-insensitively). */
  name: string;
  type: 'string' | 'integer' | 'boolean';
}

/** RFC 9110 `token`: what a header name may hold (no space, control character or delimiter). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const PRIMITIVE = new Set(['string', 'integer', 'boolean']);
/** Subschemas a `properties` chain does not pass through: a declaration under one of them is not statically reachable. */
const NOT_REACHABLE = [
  'items',
  'prefixItems',
  'contains',
  'additionalProperties',
  'unevaluatedProperties',
  'propertyNames',
  'oneOf',
  'anyOf',
  'allOf',
  'not',
  'if',
  'then',
  'else',
];
/** The ones whose value maps names to subschemas. */
const NOT_REACHABLE_MAPS = ['patternProperties', 'dependentSchemas', '$defs', 'definitions'];

const declared = new WeakMap<AnyTool, readonly HeaderParam[]>();

/**
 * The tool's header-mirrored arguments, read from its listed input schema. A declaration the spec
 * does not allow (not an RFC 9110 token, not on a string/integer/boolean property, declared twice
 * ignoring case, or not reachable through `properties` alone) throws: the registry checks every tool
 * when it is built, so a wrong declaration stops the process at start, never reaches a client.
 */
export function headerParams(tool: AnyTool): readonly HeaderParam[] {
  let out = declared.get(tool);
  if (!out) {
    out = scan(tool.name, inputSchemaOf(tool));
    declared.set(tool, out);
  }
  return out;
}

function scan(toolName: string, root: unknown): HeaderParam[] {
  const found: HeaderParam[] = [];
  const fail = (path: readonly string[], why: string): never => {
    throw new Error(`tool ${toolName}: ${X_MCP_HEADER} at ${path.join('.') || '(root)'} ${why}`);
  };
  const visit = (node: unknown, path: readonly string[], reachable: boolean): void => {
    if (typeof node !== 'object' || node === null) return;
    const schema = node as Record<string, unknown>;
    if (X_MCP_HEADER in schema) {
      if (!reachable || path.length === 0) fail(path, 'is only allowed on a property reached through `properties` alone');
      const name = schema[X_MCP_HEADER];
      if (typeof name !== 'string' || !TOKEN.test(name)) fail(path, 'must be a non-empty RFC 9110 token');
      if (typeof schema.type !== 'string' || !PRIMITIVE.has(schema.type)) fail(path, 'is only allowed on a string, integer or boolean property');
      if (found.some((d) => d.name.toLowerCase() === (name as string).toLowerCase()))
        fail(path, `declares ${String(name)} twice (names compare ignoring case)`);
      found.push({ path, name: name as string, type: schema.type as HeaderParam['type'] });
    }
    const props = schema.properties;
    if (typeof props === 'object' && props !== null) for (const [k, child] of Object.entries(props)) visit(child, [...path, k], reachable);
    for (const k of NOT_REACHABLE) for (const sub of [schema[k]].flat()) visit(sub, [...path, `<${k}>`], false);
    for (const k of NOT_REACHABLE_MAPS) {
      const map = schema[k];
      if (typeof map === 'object' && map !== null) for (const sub of Object.values(map)) visit(sub, [...path, `<${k}>`], false);
    }
  };
  visit(root, [], true);
  return found;
}

/** One Ajv (2020-12 by default, the SDK's own validator) for every hand-written schema; each compiled once. */
const validator = new AjvJsonSchemaValidator();
const compiled = new WeakMap<JsonObjectSchema, (input: unknown) => { valid: boolean; errorMessage?: string | undefined }>();

/**
 * Arguments against the tool's hand-written JSON Schema, if it has one (the zod `input` is checked
 * after, as for every tool): undefined when they pass, else the validator's message.
 */
export function handWrittenSchemaProblem(tool: AnyTool, args: unknown): string | undefined {
  const schema = tool.inputJsonSchema;
  if (!schema) return undefined;
  let check = compiled.get(schema);
  if (!check) {
    check = validator.getValidator(schema);
    compiled.set(schema, check);
  }
  const r = check(args);
  return r.valid ? undefined : (r.errorMessage ?? 'the arguments do not match the input schema');
}
