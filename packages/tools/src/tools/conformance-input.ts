import { z } from 'zod';
import { acceptedContent, elicitText, type InputRequest, type InputRequests, type InputResponses } from '../input-requests.js';
import { defineTool, type AnyTool, type ToolContentBlock } from '../tool.js';

/**
 * The multi-round-trip fixture tools of the MCP conformance suite (`input-required-result-*`,
 * `tasks-mrtr-*`, `tasks-dispatch-and-envelope`), with the names, keys and answers its scenarios
 * specify. Each declares its inputs (`inputs.needs`); the runtime gathers them before the call is
 * recorded (or, for `viaTask` tools asked for a task, while the task waits), then the worker runs
 * the tool with the answers. Test deployments only.
 */
const NO_ARGS = z.object({}).strict();
const annotations = { readOnlyHint: true, openWorldHint: false, idempotentHint: true } as const;
const common = { input: NO_ARGS, timeoutMs: 30_000, annotations, testOnly: true } as const;
const blocks = (out: Record<string, unknown>): ToolContentBlock[] => out.content as ToolContentBlock[];
const text = (t: string) => Promise.resolve({ content: [{ type: 'text' as const, text: t }] });

const askName = (message = 'What is your name?') => elicitText(message, { name: 'Your name' });
const sample = (question: string, maxTokens: number): InputRequest => ({
  method: 'sampling/createMessage',
  params: { messages: [{ role: 'user', content: { type: 'text', text: question } }], maxTokens },
});
const ROOTS: InputRequest = { method: 'roots/list', params: {} };
/** The requests not answered yet, of a fixed set. */
const outstanding = (all: InputRequests, responses: InputResponses): InputRequests =>
  Object.fromEntries(Object.entries(all).filter(([k]) => !Object.hasOwn(responses, k)));
const nameOf = (response: unknown) => String(acceptedContent(response)?.name ?? 'stranger');
const sampledText = (response: unknown): string => {
  const c = (response as { content?: unknown }).content;
  const first = Array.isArray(c) ? (c[0] as unknown) : c;
  return typeof (first as { text?: unknown })?.text === 'string' ? (first as { text: string }).text : '';
};
const rootsOf = (response: unknown): string[] => ((response as { roots?: { uri: string }[] }).roots ?? []).map((r) => r.uri);

export const testInputElicitation = defineTool({
  ...common,
  name: 'test_input_required_result_elicitation',
  title: 'Input required: elicitation (conformance)',
  description: 'Asks the user their name, then greets them. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_elicitation',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ user_name: askName() }, r) },
  run: (ctx) => text(`Hello, ${nameOf(ctx.inputResponses.user_name)}!`),
});

export const testInputSampling = defineTool({
  ...common,
  name: 'test_input_required_result_sampling',
  title: 'Input required: sampling (conformance)',
  description: "Asks the client's model a question, then answers with its reply. Conformance fixture, test deployments only.",
  mcpScope: 'tools:test_input_required_result_sampling',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ capital_question: sample('What is the capital of France?', 100) }, r) },
  run: (ctx) => text(`The model answered: ${sampledText(ctx.inputResponses.capital_question)}`),
});

export const testInputListRoots = defineTool({
  ...common,
  name: 'test_input_required_result_list_roots',
  title: 'Input required: roots (conformance)',
  description: "Asks the client's roots, then lists them. Conformance fixture, test deployments only.",
  mcpScope: 'tools:test_input_required_result_list_roots',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ client_roots: ROOTS }, r) },
  run: (ctx) => text(`Client roots: ${rootsOf(ctx.inputResponses.client_roots).join(', ')}`),
});

export const testInputRequestState = defineTool({
  ...common,
  name: 'test_input_required_result_request_state',
  title: 'Input required: request state (conformance)',
  description: 'Asks for a confirmation; the retry must carry the sealed request state. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_request_state',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ confirmation: elicitText('Confirm to continue.', { ok: 'Anything' }) }, r) },
  // The runtime verified the sealed state before anything was recorded (apps/api input-required.ts).
  run: () => text('state-ok: the request state was verified.'),
});

export const testInputMultiple = defineTool({
  ...common,
  name: 'test_input_required_result_multiple_inputs',
  title: 'Input required: several at once (conformance)',
  description: 'Asks for a name, a sampled greeting and the roots in one round. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_multiple_inputs',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ user_name: askName(), greeting: sample('Generate a greeting', 50), client_roots: ROOTS }, r) },
  run: ({ inputResponses: r }) => text(`${sampledText(r.greeting)} ${nameOf(r.user_name)} (roots: ${rootsOf(r.client_roots).join(', ')})`),
});

export const testInputMultiRound = defineTool({
  ...common,
  name: 'test_input_required_result_multi_round',
  title: 'Input required: two rounds (conformance)',
  description: 'Asks a name, then a favourite colour, in two rounds. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_multi_round',
  content: blocks,
  inputs: {
    needs: (_a, r) =>
      !Object.hasOwn(r, 'step1')
        ? { step1: askName('Step 1: What is your name?') }
        : outstanding({ step2: elicitText('Step 2: What is your favorite color?', { color: 'A colour' }) }, r),
  },
  run: ({ inputResponses: r }) => text(`${nameOf(r.step1)} likes ${String(acceptedContent(r.step2)?.color ?? 'no colour')}.`),
});

export const testInputTamperedState = defineTool({
  ...common,
  name: 'test_input_required_result_tampered_state',
  title: 'Input required: tampered state (conformance)',
  description: 'Asks for a confirmation; a tampered request state is refused. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_tampered_state',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ confirmation: elicitText('Confirm to continue.', { ok: 'Anything' }) }, r) },
  run: () => text('state-ok'),
});

export const testInputCapabilities = defineTool({
  ...common,
  name: 'test_input_required_result_capabilities',
  title: 'Input required: client capabilities (conformance)',
  description: 'Asks only for what the client declared it can answer. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_input_required_result_capabilities',
  content: blocks,
  inputs: {
    needs: (_a, r, client) =>
      outstanding(
        {
          ...(client.elicitation ? { user_name: askName() } : {}),
          ...(client.sampling ? { capital_question: sample('What is the capital of France?', 100) } : {}),
        },
        r,
      ),
  },
  run: () => text('Answered with what the client could give.'),
});

export const testToolWithTask = defineTool({
  ...common,
  name: 'test_tool_with_task',
  title: 'Input, then a task (conformance)',
  description: 'Asks the user their name, then runs as a task and greets them. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_tool_with_task',
  taskSupport: 'required',
  content: blocks,
  inputs: { needs: (_a, r) => outstanding({ user_name: askName() }, r) },
  run: (ctx) => text(`Hello, ${nameOf(ctx.inputResponses.user_name)}! (from a task)`),
});

const confirmRequest = (message: string): InputRequest => ({
  method: 'elicitation/create',
  params: { message, requestedSchema: { type: 'object', properties: { confirm: { type: 'boolean' } }, required: ['confirm'] } },
});

export const confirmDelete = defineTool({
  ...common,
  name: 'confirm_delete',
  title: 'Confirm delete (conformance)',
  description: 'Asks for confirmation, then reports the (pretend) deletion. Deletes nothing. Conformance fixture, test deployments only.',
  input: z.object({ filename: z.string().max(500) }).strict(),
  mcpScope: 'tools:confirm_delete',
  content: blocks,
  inputs: { viaTask: true, needs: (a, r) => outstanding({ confirm: confirmRequest(`Delete ${a.filename}?`) }, r) },
  run: (ctx, args) => text(acceptedContent(ctx.inputResponses.confirm)?.confirm === true ? `Deleted ${args.filename}.` : `Kept ${args.filename}.`),
});

export const multiInput = defineTool({
  ...common,
  name: 'multi_input',
  title: 'Two inputs at once (conformance)',
  description: 'Asks two questions at once; answers may come one at a time. Conformance fixture, test deployments only.',
  mcpScope: 'tools:multi_input',
  content: blocks,
  inputs: {
    viaTask: true,
    needs: (_a, r) =>
      outstanding({ first: elicitText('First: your name?', { name: 'A name' }), second: elicitText('Second: another name?', { name: 'A name' }) }, r),
  },
  run: ({ inputResponses: r }) => text(`Got ${nameOf(r.first)} and ${nameOf(r.second)}.`),
});

export const INPUT_FIXTURES: AnyTool[] = [
  testInputElicitation,
  testInputSampling,
  testInputListRoots,
  testInputRequestState,
  testInputMultiple,
  testInputMultiRound,
  testInputTamperedState,
  testInputCapabilities,
  testToolWithTask,
  confirmDelete,
  multiInput,
] as unknown as AnyTool[];
