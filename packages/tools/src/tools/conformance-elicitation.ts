import { z } from 'zod';
import type { InputRequest, InputResponses } from '../input-requests.js';
import { defineTool, type AnyTool, type ToolContentBlock } from '../tool.js';

/**
 * The conformance suite's 2025-11-25 fixtures that ask the client mid-call (`tools-call-sampling`,
 * `tools-call-elicitation`, `elicitation-sep1034-defaults`, `elicitation-sep1330-enums`), with the
 * names, schemas and answers its scenarios specify. They declare their inputs like every tool; for a
 * 2025 client the API sends the requests on the call's response stream (apps/api legacy-input.ts).
 * Test deployments only.
 */
const annotations = { readOnlyHint: true, openWorldHint: false, idempotentHint: true } as const;
const common = { timeoutMs: 30_000, annotations, testOnly: true } as const;
const blocks = (out: Record<string, unknown>): ToolContentBlock[] => out.content as ToolContentBlock[];
const text = (t: string) => Promise.resolve({ content: [{ type: 'text' as const, text: t }] });
const once = (key: string, request: InputRequest) => (_a: unknown, r: InputResponses) => (Object.hasOwn(r, key) ? {} : { [key]: request });
const elicit = (message: string, properties: Record<string, Record<string, unknown>>, required?: string[]): InputRequest => ({
  method: 'elicitation/create',
  params: { message, requestedSchema: { type: 'object', properties, ...(required ? { required } : {}) } },
});
const completed = (response: unknown) => {
  const r = response as { action?: string; content?: unknown };
  return `Elicitation completed: action=${r.action ?? 'none'}, content=${JSON.stringify(r.content ?? {})}`;
};

export const testSampling = defineTool({
  ...common,
  name: 'test_sampling',
  title: 'Sampling (conformance)',
  description: "Asks the client's model the prompt, then answers with its reply. Conformance fixture, test deployments only.",
  input: z.object({ prompt: z.string().max(2_000) }).strict(),
  mcpScope: 'tools:test_sampling',
  content: blocks,
  inputs: {
    needs: (a, r) =>
      once('llm', { method: 'sampling/createMessage', params: { messages: [{ role: 'user', content: { type: 'text', text: a.prompt } }], maxTokens: 100 } })(
        a,
        r,
      ),
  },
  run: (ctx) => {
    const c = (ctx.inputResponses.llm as { content?: { text?: unknown } }).content;
    return text(`LLM response: ${typeof c?.text === 'string' ? c.text : ''}`);
  },
});

export const testElicitation = defineTool({
  ...common,
  name: 'test_elicitation',
  title: 'Elicitation (conformance)',
  description: 'Asks the user a username and an email, then answers with what they said. Conformance fixture, test deployments only.',
  input: z.object({ message: z.string().max(2_000) }).strict(),
  mcpScope: 'tools:test_elicitation',
  content: blocks,
  inputs: {
    needs: (a, r) =>
      once(
        'user',
        elicit(a.message, { username: { type: 'string', description: "User's response" }, email: { type: 'string', description: "User's email address" } }, [
          'username',
          'email',
        ]),
      )(a, r),
  },
  run: (ctx) => text(`User response: ${completed(ctx.inputResponses.user)}`),
});

export const testElicitationDefaults = defineTool({
  ...common,
  name: 'test_elicitation_sep1034_defaults',
  title: 'Elicitation with defaults (conformance)',
  description: 'Asks for one value of each primitive type, each with a default. Conformance fixture, test deployments only.',
  input: z.object({}).strict(),
  mcpScope: 'tools:test_elicitation_sep1034_defaults',
  content: blocks,
  inputs: {
    needs: once(
      'values',
      elicit('Please review and update the form fields with defaults', {
        name: { type: 'string', description: 'User name', default: 'John Doe' },
        age: { type: 'integer', description: 'User age', default: 30 },
        score: { type: 'number', description: 'User score', default: 95.5 },
        status: { type: 'string', description: 'User status', enum: ['active', 'inactive', 'pending'], default: 'active' },
        verified: { type: 'boolean', description: 'Verification status', default: true },
      }),
    ),
  },
  run: (ctx) => text(completed(ctx.inputResponses.values)),
});

const options = (prefix: string, titles: string[]) => titles.map((title, i) => ({ const: `${prefix}${i + 1}`, title }));

export const testElicitationEnums = defineTool({
  ...common,
  name: 'test_elicitation_sep1330_enums',
  title: 'Elicitation with enums (conformance)',
  description: 'Asks five choices, one per enum variant. Conformance fixture, test deployments only.',
  input: z.object({}).strict(),
  mcpScope: 'tools:test_elicitation_sep1330_enums',
  content: blocks,
  inputs: {
    needs: once(
      'choices',
      elicit('Please select options from the enum fields', {
        untitledSingle: { type: 'string', description: 'Untitled single-select', enum: ['option1', 'option2', 'option3'] },
        titledSingle: { type: 'string', description: 'Titled single-select', oneOf: options('value', ['First Option', 'Second Option', 'Third Option']) },
        legacyEnum: {
          type: 'string',
          description: 'Legacy titled enum',
          enum: ['opt1', 'opt2', 'opt3'],
          enumNames: ['Option One', 'Option Two', 'Option Three'],
        },
        untitledMulti: { type: 'array', description: 'Untitled multi-select', items: { type: 'string', enum: ['option1', 'option2', 'option3'] } },
        titledMulti: {
          type: 'array',
          description: 'Titled multi-select',
          items: { anyOf: options('value', ['First Choice', 'Second Choice', 'Third Choice']) },
        },
      }),
    ),
  },
  run: (ctx) => text(completed(ctx.inputResponses.choices)),
});

export const ELICITATION_FIXTURES: AnyTool[] = [testSampling, testElicitation, testElicitationDefaults, testElicitationEnums] as unknown as AnyTool[];
