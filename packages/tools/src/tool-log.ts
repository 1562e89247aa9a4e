import { z } from 'zod';

/**
 * Log messages a tool sends while it runs (MCP `notifications/message`), in one place: the levels
 * (RFC 5424 severities, least severe first, as MCP names them), their order, and what a message may
 * carry. The worker sends what a tool logs; the API passes a message on to the request that made the
 * call only when that request asked for its level (2026-07-28: `_meta["io.modelcontextprotocol/logLevel"]`
 * on the request; 2025-11-25: `logging/setLevel`, remembered per client) — never otherwise.
 */
export const LOG_LEVELS = ['debug', 'info', 'notice', 'warning', 'error', 'critical', 'alert', 'emergency'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const logLevelSchema = z.enum(LOG_LEVELS);

/** Whether a message at `level` is wanted by a client that asked for `min` and above. */
export const logWanted = (level: LogLevel, min: LogLevel): boolean => LOG_LEVELS.indexOf(level) >= LOG_LEVELS.indexOf(min);

/** The request's own log level (2026-07-28 `_meta`), if it set a valid one. */
export const LOG_LEVEL_META = 'io.modelcontextprotocol/logLevel';
export function requestLogLevel(meta: unknown): LogLevel | undefined {
  if (typeof meta !== 'object' || meta === null) return undefined;
  const r = logLevelSchema.safeParse((meta as Record<string, unknown>)[LOG_LEVEL_META]);
  return r.success ? r.data : undefined;
}

/** One message as it travels from the worker to the API (and as the API checks it on arrival). */
export const toolLogMessageSchema = z.object({ level: logLevelSchema, logger: z.string().max(64).optional(), data: z.unknown() }).strict();
export type ToolLogMessage = z.infer<typeof toolLogMessageSchema>;

/** What a tool calls to log (a no-op for a tool that does not declare `logs`). Never awaited by the tool. */
export type ToolLog = (level: LogLevel, data: unknown, logger?: string) => void;
