/** The BullMQ queue every tool call goes through. Keys live under the configured prefix (a hash tag). */
export const TOOL_CALLS_QUEUE = 'tool-calls';

/** Redis pub/sub channel on which workers announce finished calls (message = call id). */
export const completionChannel = (prefix: string) => `${prefix}:tool-calls:done`;
