/** The BullMQ queue every tool call goes through. Keys live under the configured prefix (a hash tag). */
export const TOOL_CALLS_QUEUE = 'tool-calls';
