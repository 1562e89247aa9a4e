import { setTimeout as sleep } from 'node:timers/promises';
import { appError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool, type ToolContentBlock } from '../tool.js';

/**
 * The fixture tools the official MCP conformance suite (`@modelcontextprotocol/conformance`) calls by
 * name, for the test-only conformance tenant (`cli dev conformance`). Test deployments only
 * (`testOnly`): they run the real path (API → queue → worker → Postgres) like every tool, and
 * their answers are the ones the suite's scenarios specify.
 */
const NO_ARGS = z.object({}).strict();
const annotations = { readOnlyHint: true, openWorldHint: false, idempotentHint: true } as const;
const common = { input: NO_ARGS, timeoutMs: 30_000, annotations, testOnly: true } as const;

/** A 1×1 red PNG. */
const RED_PIXEL_PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==';
/** A WAV file of 8 silent 16-bit mono samples at 8 kHz. */
const SILENT_WAV = 'UklGRjQAAABXQVZFZm10IBAAAAABAAEAQB8AAIA+AAACABAAZGF0YRAAAAAAAAAAAAAAAAAAAAAAAAAA';

/** The stored result of these tools: the content blocks themselves (small, fixed). */
const blocks = (out: Record<string, unknown>): ToolContentBlock[] => out.content as ToolContentBlock[];
const answer = (content: ToolContentBlock[]) => Promise.resolve({ content });

export const testSimpleText = defineTool({
  ...common,
  name: 'test_simple_text',
  title: 'Simple text (conformance)',
  description: 'Returns a fixed text block. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_simple_text',
  content: blocks,
  run: () => answer([{ type: 'text', text: 'This is a simple text response for testing.' }]),
});

export const testImageContent = defineTool({
  ...common,
  name: 'test_image_content',
  title: 'Image content (conformance)',
  description: 'Returns a 1x1 PNG image block. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_image_content',
  content: blocks,
  run: () => answer([{ type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' }]),
});

export const testAudioContent = defineTool({
  ...common,
  name: 'test_audio_content',
  title: 'Audio content (conformance)',
  description: 'Returns a short WAV audio block. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_audio_content',
  content: blocks,
  run: () => answer([{ type: 'audio', data: SILENT_WAV, mimeType: 'audio/wav' }]),
});

export const testEmbeddedResource = defineTool({
  ...common,
  name: 'test_embedded_resource',
  title: 'Embedded resource (conformance)',
  description: 'Returns an embedded text resource. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_embedded_resource',
  content: blocks,
  run: () =>
    answer([{ type: 'resource', resource: { uri: 'test://embedded-resource', mimeType: 'text/plain', text: 'This is an embedded resource content.' } }]),
});

export const testMultipleContentTypes = defineTool({
  ...common,
  name: 'test_multiple_content_types',
  title: 'Mixed content (conformance)',
  description: 'Returns a text, an image and an embedded resource block. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_multiple_content_types',
  content: blocks,
  run: () =>
    answer([
      { type: 'text', text: 'Multiple content types test:' },
      { type: 'image', data: RED_PIXEL_PNG, mimeType: 'image/png' },
      { type: 'resource', resource: { uri: 'test://mixed-content-resource', mimeType: 'application/json', text: '{"test":"data","value":123}' } },
    ]),
});

export const testErrorHandling = defineTool({
  ...common,
  name: 'test_error_handling',
  title: 'Tool error (conformance)',
  description: 'Always fails with a tool execution error. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_error_handling',
  run: () => Promise.reject(appError('tool_failed', 'This tool intentionally returns an error for testing')),
});

/**
 * Runs about 1.5 s. Progress is the runtime's own: while a call with a progressToken runs, the API
 * sends a `notifications/progress` every PROGRESS_INTERVAL_MS (elapsed seconds), so a client sees
 * several when the interval is a fraction of the run (the conformance run sets 250 ms).
 */
export const testToolWithProgress = defineTool({
  ...common,
  name: 'test_tool_with_progress',
  title: 'Progress (conformance)',
  description: 'Runs about 1.5 seconds, reporting progress while it runs. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_tool_with_progress',
  content: blocks,
  async run(ctx) {
    await sleep(1_500, undefined, { signal: ctx.signal });
    return { content: [{ type: 'text', text: 'Progress test completed.' }] };
  },
});

/**
 * Declares that it needs the client's `sampling` capability: a 2026-07-28 request without it is
 * refused (-32021) before anything runs. With it, the tool answers plainly: the runtime carries no
 * server-to-client request out of a worker, so the tool never samples.
 */
export const testMissingCapability = defineTool({
  ...common,
  name: 'test_missing_capability',
  title: 'Needs sampling (conformance)',
  description: "Requires the client's sampling capability. Conformance fixture, test deployments only.",
  mcpScope: 'tools:test_missing_capability',
  clientCapabilities: ['sampling'],
  content: blocks,
  run: () => answer([{ type: 'text', text: 'The client declared the sampling capability.' }]),
});

/**
 * Called with the client's elicitation capability, it answers with its result and nothing else on
 * the response stream: the runtime never sends a server-to-client request on a response stream
 * (2026-07-28 asks for input with an input_required result instead), which is what the suite checks.
 */
export const testStreamingElicitation = defineTool({
  ...common,
  name: 'test_streaming_elicitation',
  title: 'Streaming elicitation (conformance)',
  description: 'Answers without sending requests on the response stream. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_streaming_elicitation',
  content: blocks,
  run: () => answer([{ type: 'text', text: 'No request was sent on the response stream.' }]),
});

/**
 * Logs one message and answers at once. A request without a log level gets no `notifications/message`
 * (the API follows a call's messages only for a request that asked: tool-log.ts), which the suite
 * checks. (It reads the answer's frames for about half a second: the round trip through the queue must fit.)
 */
export const testLoggingTool = defineTool({
  ...common,
  name: 'test_logging_tool',
  title: 'Logging (conformance)',
  description: 'Logs one message (sent only to a request that asked for a log level) and answers. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_logging_tool',
  content: blocks,
  logs: true,
  run: (ctx) => {
    ctx.log('info', 'Tool execution completed');
    return answer([{ type: 'text', text: 'Tool execution completed.' }]);
  },
});

/** Three info messages about 50 ms apart while it runs (the 2025-11-25 `tools-call-with-logging` scenario), then a text answer. */
export const testToolWithLogging = defineTool({
  ...common,
  name: 'test_tool_with_logging',
  title: 'Logging while running (conformance)',
  description: 'Sends three log messages while it runs, then answers. Conformance fixture, test deployments only.',
  mcpScope: 'tools:test_tool_with_logging',
  content: blocks,
  logs: true,
  run: async (ctx) => {
    ctx.log('info', 'Tool execution started');
    await sleep(50, undefined, { signal: ctx.signal });
    ctx.log('info', 'Tool processing data');
    await sleep(50, undefined, { signal: ctx.signal });
    ctx.log('info', 'Tool execution completed');
    return { content: [{ type: 'text', text: 'Tool with logging executed successfully.' }] };
  },
});
