/**
 * A local stand-in for the Scavio search API (api.scavio.dev), built on node:http with no deps.
 * Shapes follow docs/upstream-apis.md §1:
 *   - `POST /api/v2/google`, `Authorization: Bearer <key>` — the current SDK form (§1.2);
 *   - `POST /api/v1/search`, `x-api-key: <key>`, body `{platform:'google', query}` — the legacy
 *     form seen only on marketing pages (§1.1, unconfirmed upstream).
 * Errors are `{error:{code,message}}` (§1.5). Magic queries force failures:
 * `__rate_limit__` → 429 `rate_limit_exceeded`, `__server_error__` → 500 `internal_error`.
 */
import { createHash } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ScavioRequestRecord {
  path: string;
  headers: Record<string, string | undefined>;
  body: unknown;
}

export interface ScavioDouble {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  /** Every request received, in order, including rejected ones. */
  requests: ScavioRequestRecord[];
  close(): Promise<void>;
}

export interface ScavioOrganicResult {
  position: number;
  title: string;
  link: string;
  snippet: string;
  displayed_link: string;
}

export const SCAVIO_RATE_LIMIT_QUERY = '__rate_limit__';
const SCAVIO_SERVER_ERROR_QUERY = '__server_error__';

const MAX_QUERY_LENGTH = 500; // §1.2: query is 1–500 chars
const MAX_START = 990; // §1.2: start offset, max 990
const STARTING_CREDITS = 1000;
const RESULTS_PER_CALL = 3;

type Route = { auth: 'bearer' | 'x-api-key'; legacy: boolean };
const ROUTES: Record<string, Route> = {
  '/api/v2/google': { auth: 'bearer', legacy: false },
  '/api/v1/search': { auth: 'x-api-key', legacy: true },
};

class ScavioError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export async function startScavioDouble(opts: { apiKey: string; port?: number }): Promise<ScavioDouble> {
  if (!opts.apiKey) throw new TypeError('startScavioDouble needs a non-empty apiKey');
  const requests: ScavioRequestRecord[] = [];
  let creditsRemaining = STARTING_CREDITS;

  const server = createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      if (err instanceof ScavioError) sendError(res, err);
      else sendError(res, new ScavioError(500, 'internal_error', 'Internal server error'));
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    const raw = await readBody(req);
    const body = parseJson(raw);
    requests.push({ path, headers: flattenHeaders(req), body: body.ok ? body.value : raw });

    const route = ROUTES[path];
    if (!route || req.method !== 'POST') throw new ScavioError(404, 'not_found', `No route for ${req.method} ${path}`);
    if (presentedKey(req, route) !== opts.apiKey) {
      throw new ScavioError(401, 'unauthorized', 'Missing or invalid API key');
    }
    if (!body.ok || !isObject(body.value)) throw new ScavioError(400, 'bad_request', 'Body must be a JSON object');

    const { query } = body.value;
    if (route.legacy && body.value['platform'] !== 'google') {
      throw new ScavioError(400, 'bad_request', 'platform must be "google"');
    }
    if (typeof query !== 'string' || query.length === 0) throw new ScavioError(400, 'bad_request', 'query is required');
    if (query.length > MAX_QUERY_LENGTH) {
      throw new ScavioError(400, 'bad_request', `query must be at most ${MAX_QUERY_LENGTH} characters`);
    }
    const start = route.legacy ? 0 : (body.value['start'] ?? 0);
    if (typeof start !== 'number' || !Number.isInteger(start) || start < 0 || start > MAX_START) {
      throw new ScavioError(400, 'bad_request', `start must be an integer from 0 to ${MAX_START}`);
    }
    if (query === SCAVIO_RATE_LIMIT_QUERY) {
      throw new ScavioError(429, 'rate_limit_exceeded', 'Rate limit exceeded. Retry after 30 seconds.');
    }
    if (query === SCAVIO_SERVER_ERROR_QUERY) throw new ScavioError(500, 'internal_error', 'Internal server error');

    creditsRemaining -= 1;
    sendJson(res, 200, {
      organic_results: organicResults(query, start),
      related_searches: [],
      response_time: 0.42,
      credits_used: 1,
      credits_remaining: creditsRemaining,
    });
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });

  let closing: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })),
  };
}

/** Three results derived only from the query (and page offset), so tests can assert exact values. */
export function organicResults(query: string, start = 0): ScavioOrganicResult[] {
  const id = createHash('sha256').update(query).digest('hex').slice(0, 8);
  return Array.from({ length: RESULTS_PER_CALL }, (_, i) => {
    const position = start + i + 1;
    return {
      position,
      title: `${query} — result ${position}`,
      link: `https://results.example.test/${id}/${position}`,
      snippet: `Result ${position} for "${query}".`,
      displayed_link: `results.example.test › ${id} › ${position}`,
    };
  });
}

function presentedKey(req: IncomingMessage, route: Route): string | undefined {
  if (route.auth === 'x-api-key') {
    const key = req.headers['x-api-key'];
    return typeof key === 'string' ? key : undefined;
  }
  const match = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '');
  return match?.[1];
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function parseJson(raw: string): { ok: true; value: unknown } | { ok: false } {
  try {
    return { ok: true, value: JSON.parse(raw) as unknown };
  } catch {
    return { ok: false };
  }
}

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === 'object' && !Array.isArray(value);
}

function flattenHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

function sendError(res: ServerResponse, err: ScavioError): void {
  const headers: Record<string, string> = err.status === 429 ? { 'retry-after': '30' } : {};
  sendJson(res, err.status, { error: { code: err.code, message: err.message } }, headers);
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(payload),
    ...headers,
  });
  res.end(payload);
}
