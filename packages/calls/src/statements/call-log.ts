import type postgres from 'postgres';

/**
 * A tool's log messages on their way to the API (tool-log.ts in @mcprt/tools): one NOTIFY each on
 * CALL_LOG_CHANNEL, `<call id> <tenant id> <message JSON>`. Postgres delivers notifications in commit
 * order on the API's one listening connection, the same one the completion bell (bell.ts) arrives on:
 * the worker sends a run's messages (and waits for them) before its final write commits, so every
 * message reaches the API before the bell that ends the wait, and is sent on the response before the
 * result. Nothing is stored. A message over NOTIFY's 8000-byte limit is cut to a note saying so.
 */
export const CALL_LOG_CHANNEL = 'mcprt_call_log';
const MESSAGE_MAX_BYTES = 7_800;

export async function notifyCallLog(
  sql: postgres.Sql,
  tenantId: string,
  callId: string,
  message: { level: string; logger?: string | undefined; data: unknown },
): Promise<void> {
  let json = JSON.stringify(message);
  if (Buffer.byteLength(json) > MESSAGE_MAX_BYTES)
    json = JSON.stringify({
      level: message.level,
      ...(message.logger ? { logger: message.logger } : {}),
      data: `[log message of ${Buffer.byteLength(json)} bytes not sent: over ${MESSAGE_MAX_BYTES}]`,
    });
  await sql`select pg_notify(${CALL_LOG_CHANNEL}, ${`${callId} ${tenantId} ${json}`})`;
}

/** Hear CALL_LOG_CHANNEL: `fn(callId, tenantId, messageJson)` (unparsed: parse only for calls someone follows). */
export async function onCallLog(sql: postgres.Sql, fn: (callId: string, tenantId: string, json: string) => void): Promise<{ unlisten(): Promise<void> }> {
  const sub = await sql.listen(CALL_LOG_CHANNEL, (payload) => {
    const a = payload.indexOf(' ');
    const b = payload.indexOf(' ', a + 1);
    if (a > 0 && b > a) fn(payload.slice(0, a), payload.slice(a + 1, b), payload.slice(b + 1));
  });
  return { unlisten: () => sub.unlisten() };
}
