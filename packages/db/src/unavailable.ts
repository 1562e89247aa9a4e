/**
 * Node socket errors and postgres.js connection errors: the server is unreachable, not the query wrong.
 * Not CONNECTION_ENDED / CONNECTION_DESTROYED: those mean this process ended its own pool.
 */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
]);

/**
 * Whether `e` (or anything in its cause chain: Drizzle wraps driver errors) says Postgres is
 * unreachable or refusing work for now: a socket failure, SQLSTATE class 08 (connection exception),
 * 57P01–57P03 (shutdown, crash recovery), 53300 (too many connections).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if ((cur as { code?: unknown }).code === 'database_unavailable') return true;
    const code = (cur as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  }
  return false;
}
