import { handWrittenSchemaProblem, headerParams } from './input-schema.js';
import type { AnyTool } from './tool.js';
import { calendarRead } from './tools/calendar-read.js';
import {
  testAudioContent,
  testEmbeddedResource,
  testErrorHandling,
  testImageContent,
  testLoggingTool,
  testMissingCapability,
  testMultipleContentTypes,
  testSimpleText,
  testStreamingElicitation,
  testToolWithProgress,
} from './tools/conformance-content.js';
import { ELICITATION_FIXTURES } from './tools/conformance-elicitation.js';
import { INPUT_FIXTURES } from './tools/conformance-input.js';
import { jsonSchema2020Tool, testCustomHeaders } from './tools/conformance-schemas.js';
import { failingJob, greet, protocolErrorJob, slowCompute } from './tools/conformance-tasks.js';
import { echo } from './tools/echo.js';
import { echoAsk } from './tools/echo-ask.js';
import { emailRead } from './tools/email-read.js';
import { emailSearch } from './tools/email-search.js';
import { githubProfile } from './tools/github-profile.js';
import { githubReadFile } from './tools/github-read-file.js';
import { githubRepos } from './tools/github-repos.js';
import { githubSearchCode } from './tools/github-search-code.js';
import { webSearch } from './tools/web-search.js';
import { whoami } from './tools/whoami.js';

/** Every tool of the deployment, in tools/list order. Adding a tool: its file in tools/, one line here. */
const ALL: AnyTool[] = [
  whoami,
  webSearch,
  emailSearch,
  emailRead,
  calendarRead,
  githubRepos,
  githubSearchCode,
  githubReadFile,
  echo,
  githubProfile,
  echoAsk,
] as unknown as AnyTool[];

/**
 * The MCP conformance suite's fixture tools (test deployments only): the tools of the test-only
 * conformance tenant (`cli dev conformance`), in tools/list order.
 */
const CONFORMANCE: AnyTool[] = [
  testSimpleText,
  testImageContent,
  testAudioContent,
  testEmbeddedResource,
  testMultipleContentTypes,
  testErrorHandling,
  testToolWithProgress,
  testMissingCapability,
  testStreamingElicitation,
  testLoggingTool,
  greet,
  slowCompute,
  failingJob,
  protocolErrorJob,
  ...INPUT_FIXTURES,
  ...ELICITATION_FIXTURES,
  testCustomHeaders,
  jsonSchema2020Tool,
] as unknown as AnyTool[];
ALL.push(...CONFORMANCE);

/** The names of the conformance fixture tools. */
export const CONFORMANCE_TOOLS: readonly string[] = CONFORMANCE.map((t) => t.name);

export interface ToolRegistry {
  get(name: string): AnyTool | undefined;
  names(): string[];
  /** The tools a tenant has enabled and this deployment offers, in registry order. */
  enabledFor(enabledTools: readonly string[]): AnyTool[];
}

export function createToolRegistry(opts: { includeTestTools: boolean }): ToolRegistry {
  const tools = new Map(ALL.filter((t) => opts.includeTestTools || !t.testOnly).map((t) => [t.name, t]));
  // A header declaration the spec does not allow fails here, at the process's start.
  for (const t of tools.values()) headerParams(t);
  return {
    get: (name) => tools.get(name),
    names: () => [...tools.keys()],
    enabledFor: (enabled) => [...tools.values()].filter((t) => enabled.includes(t.name)),
  };
}

/**
 * Validate arguments. Errors name each failing field so the model can correct itself
 * (MCP 2025-11-25: input validation errors are tool execution errors).
 */
export function parseArguments(tool: AnyTool, args: unknown): { ok: true; value: Record<string, unknown> } | { ok: false; message: string } {
  const schemaProblem = handWrittenSchemaProblem(tool, args ?? {});
  if (schemaProblem) return { ok: false, message: `Invalid arguments for ${tool.name}: ${schemaProblem}` };
  const r = tool.input.safeParse(args ?? {});
  if (r.success) {
    const bad = invalidText(r.data, '');
    if (bad) return { ok: false, message: `Invalid arguments for ${tool.name}: ${bad}` };
    return { ok: true, value: r.data as Record<string, unknown> };
  }
  const problems = r.error.issues.map((i) => {
    const field = i.path.length ? i.path.join('.') : i.code === 'unrecognized_keys' ? (i.keys?.join(', ') ?? '(arguments)') : '(arguments)';
    return `${field}: ${i.message}`;
  });
  return { ok: false, message: `Invalid arguments for ${tool.name}: ${problems.join('; ')}` };
}

/** The placeholder a sensitive argument shows in the call row, the REST view and the audit. */
export const REDACTED = '[redacted]';

/**
 * The real values of the arguments the tool marks sensitive that this call carries (undefined: none).
 * They travel sealed beside the row (tool_calls.sealed_args) and are put back for the run.
 */
export function sensitiveValues(tool: AnyTool, args: Record<string, unknown>): Record<string, unknown> | undefined {
  if (!tool.sensitiveArgs?.length) return undefined;
  const picked = Object.entries(args).filter(([k, v]) => v !== undefined && tool.sensitiveArgs!.includes(k));
  return picked.length ? Object.fromEntries(picked) : undefined;
}

/** Arguments as stored: fields the tool marks sensitive are replaced. */
export function redactArguments(tool: AnyTool, args: Record<string, unknown>): Record<string, unknown> {
  if (!tool.sensitiveArgs?.length) return args;
  return Object.fromEntries(Object.entries(args).map(([k, v]) => [k, tool.sensitiveArgs!.includes(k) ? REDACTED : v]));
}

/** A NUL, or half of a surrogate pair: not text (Postgres and JSON consumers refuse it; it is never a real query). */
// eslint-disable-next-line no-control-regex -- finding NUL is the point
const NOT_TEXT = /\u0000|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/**
 * The first string (value or key) that is not valid text, as "field: problem"; undefined if all are.
 * `key` is the value's key under `parent` (undefined at the top); the path is built only for
 * containers and for a bad value, not for every valid field (this runs on every call's arguments).
 */
function invalidText(v: unknown, parent: string, key?: string | number): string | undefined {
  if (typeof v === 'string') {
    const m = NOT_TEXT.exec(v);
    if (!m) return undefined;
    const path = pathOf(parent, key);
    return `${path || '(arguments)'}: ${m[0] === '\u0000' ? 'contains a NUL character (\\u0000)' : 'contains an unpaired UTF-16 surrogate'}, which is not allowed in text`;
  }
  if (v === null || typeof v !== 'object') return undefined;
  const path = pathOf(parent, key);
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const bad = invalidText(v[i], path, i);
      if (bad) return bad;
    }
    return undefined;
  }
  const record = v as Record<string, unknown>;
  for (const k in record) {
    if (!Object.hasOwn(record, k)) continue;
    if (NOT_TEXT.test(k)) return `${path || '(arguments)'}: a field name is not valid text`;
    const bad = invalidText(record[k], path, k);
    if (bad) return bad;
  }
  return undefined;
}

const pathOf = (parent: string, key: string | number | undefined): string => (key === undefined ? parent : parent ? `${parent}.${key}` : String(key));
