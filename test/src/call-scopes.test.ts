import { randomBytes } from 'node:crypto';
import { loadSigningKeys, mintBuiltinAccessToken } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { oidcStoreRepository } from '@mcprt/db';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { registerClient, userToken, type UserToken } from './harness/as-token.js';
import { startStack, type Stack } from './harness/stack.js';
import { startEchoProbe, type EchoProbe, type ProbeEvent } from './harness/echo-probe.js';
import { refusal } from './harness/refusal.js';
import { sleep } from './harness/wait-for.js';

/**
 * Scopes and the calling app on every read and change of a call, and on the audit history, against
 * the real stack: a built-in tenant's own authorization server issues every token (dynamic client
 * registration, login at the dev IdP, the consent page, PKCE, the token endpoint), the official MCP
 * SDK v2 client speaks 2026-07-28, and the echo tool runs in the worker.
 *
 * Alice uses two apps: a chat app (every tool scope) that runs web_search and long echo calls, and a
 * "weather widget" she allowed only `tools:whoami`. The widget, and a token with an empty scope, must
 * not see, read or cancel anything of the chat app's — on any surface — and a refusal answers exactly
 * like an id that never existed. Apps she allowed `calls:read`, `calls:cancel` or `audit:read` see
 * (and stop) what those scopes say, and nothing more.
 */
const TASKS = 'io.modelcontextprotocol/tasks';
const UNKNOWN = 'call_AAAAAAAAAAAAAAAAAAAAAA';
const taskSchema = z.looseObject({ taskId: z.string(), status: z.string(), result: z.looseObject({}).optional() });
const emptySchema = z.looseObject({});

/** A v2 client (2026-07-28) declaring the tasks extension, keeping the raw results it received (a task answer is not a CallToolResult). */
async function connect(url: string, token: string) {
  const raw = new Map<number | string, Record<string, unknown>>();
  const recording: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    if ((res.headers.get('content-type') ?? '').startsWith('application/json')) {
      try {
        const m = JSON.parse(await res.clone().text()) as { id?: number | string; result?: Record<string, unknown> };
        if (m.id !== undefined && m.result) raw.set(m.id, m.result);
      } catch {
        /* not ours to judge */
      }
    }
    return res;
  };
  const client = new Client({ name: 'scopes-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' }, capabilities: { extensions: { [TASKS]: {} } } });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, fetch: recording }));
  return {
    client,
    async callAsTask(name: string, args: Record<string, unknown>): Promise<string> {
      const before = new Set(raw.keys());
      await expect(client.callTool({ name, arguments: args })).rejects.toThrow(/Unsupported result type 'task'/);
      const id = [...raw.keys()].find((k) => !before.has(k));
      return String(raw.get(id!)!.taskId);
    },
    result: (callId: string) => client.callTool({ name: 'tool_call_result', arguments: { callId } }),
    get: (taskId: string) => client.request({ method: 'tasks/get', params: { taskId } }, taskSchema),
    update: (taskId: string) => client.request({ method: 'tasks/update', params: { taskId, inputResponses: {} } }, emptySchema),
    cancel: (taskId: string) => client.request({ method: 'tasks/cancel', params: { taskId } }, emptySchema),
    close: () => client.close(),
  };
}
type Conn = Awaited<ReturnType<typeof connect>>;

describe('scopes and the calling app on reads, tasks, cancels and the audit history', () => {
  let s: Stack;
  let t: Stack;
  let probe: EchoProbe;
  let probeUrl: string;
  const events: ProbeEvent[] = [];
  const saw = (event: string, message: string) => probe.saw(event, message);

  const clients: Record<string, string> = {};
  const tokens: Record<string, UserToken> = {};
  const conns: Conn[] = [];
  let chat: Conn;
  let widget: Conn;
  let empty: Conn;
  /** The chat app's calls: a finished web_search, and two echo calls still running. */
  let searchId: string;
  let runA: string;
  let runB: string;
  let widgetWhoami: string;

  const v1 = () => `${s.config.PUBLIC_URL}/t/${t.slug}/v1`;
  const rest = (path: string, token: string, method = 'GET') => fetch(`${v1()}${path}`, { method, headers: { authorization: `Bearer ${token}` } });
  const tok = (name: string) => tokens[name]!.accessToken;
  /** A REST answer without its request id: two refusals compare equal when they say the same. */
  const body = async (r: Response) => {
    const { request_id: _id, ...rest } = (await r.json()) as Record<string, unknown>;
    return { status: r.status, ...rest };
  };
  const statusOf = async (id: string) => (await s.db.sql`select status from tool_calls where id = ${id}`)[0]!.status as string;
  const listIds = async (token: string, query = '') => {
    const r = await rest(`/tool-calls?limit=200${query}`, token);
    expect(r.status).toBe(200);
    return ((await r.json()) as { items: { id: string }[] }).items.map((c) => c.id);
  };

  beforeAll(async () => {
    s = await startStack({ label: 'scopes', env: { TASK_WAIT_MS: '200', CALL_WAIT_MS: '2500', TASK_POLL_INTERVAL_MS: '250' } });
    t = s;
    probe = await startEchoProbe(events);
    probeUrl = probe.url;

    // Alice's apps, each its own registration, each allowed what it asked for on the consent page.
    const apps: [string, string][] = [
      ['chat', 'tools:whoami tools:web_search tools:echo'],
      ['widget', 'tools:whoami'],
      ['echoWidget', 'tools:echo'],
      ['reader', 'calls:read'],
      ['canceller', 'calls:cancel'],
      ['auditor', 'audit:read'],
    ];
    for (const [name, scope] of apps) {
      clients[name] = await registerClient(t.issuer, `${name} app`);
      tokens[name] = await userToken(t, { clientId: clients[name], account: 'alice', scope }).catch((e: unknown) => {
        throw new Error(`${name}: ${String(e)}`);
      });
    }
    // The tenant's authorization server issues no token without any scope for its resource (the
    // consent has nothing to grant): an empty-scope token signed with the tenant's own AS keys, for
    // an app alice signed in to, as the dev-token helper signs them.
    clients.empty = await registerClient(t.issuer, 'empty app');
    const [alice] = await s.db.sql`select id from users where tenant_id = ${t.tenant.id}`;
    const keys = await loadSigningKeys(t.tenant.id, oidcStoreRepository(s.db.db, t.tenant.id), parseKeyring(s.config.SEAL_KEYS, s.config.SEAL_ACTIVE_KID));
    tokens.empty = {
      accessToken: await mintBuiltinAccessToken(keys, {
        issuer: t.issuer,
        audience: t.mcpUrl,
        subject: alice!.id as string,
        scope: '',
        clientId: clients.empty,
      }),
      scope: '',
      pages: [],
    };
    chat = await connect(t.mcpUrl, tok('chat'));
    widget = await connect(t.mcpUrl, tok('widget'));
    empty = await connect(t.mcpUrl, tok('empty'));
    conns.push(chat, widget, empty);

    const search = await chat.client.callTool({ name: 'web_search', arguments: { query: 'alice private search' } });
    expect(search.isError).toBeFalsy();
    searchId = (search._meta?.['io.mcprt/call'] as { id: string }).id;
    runA = await chat.callAsTask('echo', { message: 'run-a', delayMs: 30_000, probeUrl });
    runB = await chat.callAsTask('echo', { message: 'run-b', delayMs: 30_000, probeUrl });
    await Promise.all([saw('start', 'run-a'), saw('start', 'run-b')]);
    const who = await widget.client.callTool({ name: 'whoami', arguments: {} });
    expect(who.isError).toBeFalsy();
    widgetWhoami = (who._meta?.['io.mcprt/call'] as { id: string }).id;
  }, 120_000);

  afterAll(async () => {
    await Promise.allSettled(conns.map((c) => c.close()));
    await probe?.close();
    await t?.idp.close();
    await s?.close();
  });

  it('the tokens are what alice allowed: the widget has tools:whoami only, the empty one nothing', () => {
    expect(tokens.widget!.scope).toBe('tools:whoami');
    expect(tokens.empty!.scope).toBe('');
    expect(tokens.reader!.scope).toBe('calls:read');
  });

  it('every call records the OAuth client of the verified token that made it', async () => {
    const rows = await s.db.sql`select id, client_id from tool_calls where id in ${s.db.sql([searchId, runA, widgetWhoami])}`;
    const byId = Object.fromEntries(rows.map((r) => [r.id as string, r.client_id as string]));
    expect(byId).toEqual({ [searchId]: clients.chat, [runA]: clients.chat, [widgetWhoami]: clients.widget });
  });

  for (const who of ['widget', 'empty'] as const) {
    describe(`a token with ${who === 'widget' ? 'tools:whoami only (the weather widget)' : 'an empty scope'}`, () => {
      it('lists none of the chat app’s calls, with ?tool=web_search or without', async () => {
        expect(await listIds(tok(who), '&tool=web_search')).toEqual([]);
        const all = await listIds(tok(who));
        expect(all).not.toContain(searchId);
        expect(all).not.toContain(runA);
        expect(all).toEqual(who === 'widget' ? [widgetWhoami] : []);
      });

      it('GET /tool-calls/:id answers 404 exactly like an unknown id', async () => {
        const unknown = await body(await rest(`/tool-calls/${UNKNOWN}`, tok(who)));
        expect(unknown.status).toBe(404);
        for (const id of [searchId, runA]) expect(await body(await rest(`/tool-calls/${id}`, tok(who)))).toEqual(unknown);
      });

      it('tool_call_result answers exactly like an unknown id', async () => {
        const c = who === 'widget' ? widget : empty;
        const none = await c.result(UNKNOWN);
        expect(none.isError).toBe(true);
        for (const id of [searchId, runA]) {
          const theirs = await c.result(id);
          expect(theirs.content).toEqual((none.content as { text: string }[]).map((x) => ({ ...x, text: x.text.replace(UNKNOWN, id) })));
          expect(JSON.stringify(theirs)).not.toContain('alice private search');
        }
      });

      it('tasks/get and tasks/update answer -32602 exactly like an unknown task', async () => {
        const c = who === 'widget' ? widget : empty;
        for (const op of ['get', 'update'] as const) {
          const none = await refusal(c[op](UNKNOWN));
          expect(none.code).toBe(-32602);
          for (const id of [searchId, runA]) expect(await refusal(c[op](id))).toEqual(none);
        }
      });

      it('cannot cancel the chat app’s running call: REST 404 and tasks/cancel unknown task, exactly like an unknown id; the call runs on', async () => {
        const c = who === 'widget' ? widget : empty;
        const unknown = await body(await rest(`/tool-calls/${UNKNOWN}/cancel`, tok(who), 'POST'));
        expect(unknown.status).toBe(404);
        expect(await body(await rest(`/tool-calls/${runA}/cancel`, tok(who), 'POST'))).toEqual(unknown);
        expect(await refusal(c.cancel(runA))).toEqual(await refusal(c.cancel(UNKNOWN)));
        await sleep(300);
        expect(await statusOf(runA)).toBe('running');
        expect(events.some((e) => e.event === 'aborted' && e.message === 'run-a')).toBe(false);
        const audit = await s.db.sql`select action from audit_events where call_id = ${runA} and action = 'tool_call.cancelled'`;
        expect(audit).toHaveLength(0);
      });

      it('cannot read the audit history: 403 insufficient_scope naming audit:read, no rows', async () => {
        const r = await rest('/audit-events', tok(who));
        expect(r.status).toBe(403);
        expect(r.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
        expect(r.headers.get('www-authenticate')).toMatch(/scope="[^"]*audit:read"/);
        const b = (await r.json()) as Record<string, unknown>;
        expect(b).toMatchObject({ error: 'insufficient_scope' });
        expect(b).not.toHaveProperty('items');
      });
    });
  }

  it('the app that made a call, with its tool scope, sees it on every surface', async () => {
    expect(await listIds(tok('chat'), '&tool=web_search')).toContain(searchId);
    expect((await rest(`/tool-calls/${searchId}`, tok('chat'))).status).toBe(200);
    expect(JSON.stringify((await chat.result(searchId)).structuredContent)).toContain('results');
    expect((await chat.get(searchId)).status).toBe('completed');
    expect((await chat.get(runA)).status).toBe('working');
    // The widget sees its own whoami call.
    expect((await rest(`/tool-calls/${widgetWhoami}`, tok('widget'))).status).toBe(200);
  });

  it('the same app without the tool scope any more does not: a narrower token of the chat app', async () => {
    const narrow = await userToken(t, { clientId: clients.chat!, account: 'alice', scope: 'tools:whoami' });
    expect(narrow.scope).toBe('tools:whoami');
    expect(await listIds(narrow.accessToken, '&tool=web_search')).toEqual([]);
    expect((await rest(`/tool-calls/${searchId}`, narrow.accessToken)).status).toBe(404);
  });

  it('calls:read sees the calls of alice’s other apps on every surface, but cannot stop them (403 naming calls:cancel)', async () => {
    const reader = await connect(t.mcpUrl, tok('reader'));
    conns.push(reader);
    expect(await listIds(tok('reader'), '&tool=web_search')).toContain(searchId);
    const all = await listIds(tok('reader'));
    for (const id of [searchId, runA, runB, widgetWhoami]) expect(all).toContain(id);
    expect((await rest(`/tool-calls/${searchId}`, tok('reader'))).status).toBe(200);
    expect(JSON.stringify((await reader.result(searchId)).structuredContent)).toContain('results');
    expect((await reader.get(runA)).status).toBe('working');

    const r = await rest(`/tool-calls/${runA}/cancel`, tok('reader'), 'POST');
    expect(r.status).toBe(403);
    expect(r.headers.get('www-authenticate')).toMatch(/scope="calls:read calls:cancel"/);
    expect((await refusal(reader.cancel(runA))).message).toMatch(/calls:cancel/);
    expect(await statusOf(runA)).toBe('running');
  });

  it('calls:cancel stops another app’s call (REST); the app that made a call stops its own (tasks/cancel); both audited', async () => {
    const r = await rest(`/tool-calls/${runB}/cancel`, tok('canceller'), 'POST');
    expect(r.status).toBe(200);
    await saw('aborted', 'run-b');
    expect(await statusOf(runB)).toBe('cancelled');

    await chat.cancel(runA);
    await saw('aborted', 'run-a');
    expect(await statusOf(runA)).toBe('cancelled');
    const audit = await s.db.sql`select call_id, reason from audit_events where call_id in ${s.db.sql([runA, runB])} and action = 'tool_call.cancelled'`;
    expect(audit).toHaveLength(2);
  });

  it('audit:read reads alice’s audit history, including the chat app’s calls', async () => {
    const r = await rest('/audit-events?limit=200', tok('auditor'));
    expect(r.status).toBe(200);
    const items = ((await r.json()) as { items: { callId: string | null; action: string }[] }).items;
    expect(items.some((a) => a.callId === searchId && a.action === 'tool_call.accepted')).toBe(true);
  });

  it('a call recorded without a client (before clients were recorded) is seen only with calls:read', async () => {
    const [u] = await s.db.sql`select user_id from tool_calls where id = ${searchId}`;
    const legacy = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
    await s.db.sql`insert into tool_calls (id, tenant_id, user_id, client_id, tool, arguments, status, result, finished_at)
      values (${legacy}, ${t.tenant.id}, ${u!.user_id as string}, null, 'web_search', '{"query":"old"}'::jsonb, 'succeeded', '{"results":[]}'::jsonb, now())`;
    expect(await listIds(tok('chat'))).not.toContain(legacy);
    expect((await rest(`/tool-calls/${legacy}`, tok('chat'))).status).toBe(404);
    expect((await chat.result(legacy)).isError).toBe(true);
    expect(await listIds(tok('reader'))).toContain(legacy);
    expect((await rest(`/tool-calls/${legacy}`, tok('reader'))).status).toBe(200);
  });

  it('paging stays exact under the filter: every page full until the last, the visible calls each once', async () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const r = await rest(`/tool-calls?limit=1${cursor ? `&cursor=${cursor}` : ''}`, tok('widget'));
      const page = (await r.json()) as { items: { id: string }[]; nextCursor: string | null };
      seen.push(...page.items.map((i) => i.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 20);
    expect(seen).toEqual([widgetWhoami]);
  });

  it('an idempotency key of another app’s call is refused like a different request: nothing of that call is shown', async () => {
    const key = { 'io.mcprt/idempotency-key': 'shared-key-1' };
    const first = await chat.client.callTool({ name: 'echo', arguments: { message: 'idem-secret' }, _meta: key });
    expect(first.structuredContent).toMatchObject({ message: 'idem-secret' });
    const other = await connect(t.mcpUrl, tok('echoWidget'));
    conns.push(other);
    const replay = await other.client.callTool({ name: 'echo', arguments: { message: 'idem-secret' }, _meta: key });
    expect(replay.isError).toBe(true);
    expect((replay._meta?.['io.mcprt/error'] as { code: string }).code).toBe('idempotency_key_reused');
    expect(JSON.stringify(replay._meta?.['io.mcprt/call'] ?? null)).toBe('null');
    // The same app replaying its own key gets its call back.
    const again = await chat.client.callTool({ name: 'echo', arguments: { message: 'idem-secret' }, _meta: key });
    expect(again.structuredContent).toMatchObject({ message: 'idem-secret' });
  });

  it('2025-11-25: the call records the token’s client, not a value the request carries; another app’s notifications/cancelled does not stop it', async () => {
    const legacy = { 'mcp-protocol-version': '2025-11-25' };
    const running = s.post(
      {
        jsonrpc: '2.0',
        id: 4242,
        method: 'tools/call',
        params: { name: 'echo', arguments: { message: 'legacy-run', delayMs: 30_000, probeUrl }, _meta: { client_id: 'forged-client' } },
      },
      { authorization: `Bearer ${tok('chat')}`, ...legacy, 'x-client-id': 'forged-client' },
      t.mcpUrl,
    );
    await saw('start', 'legacy-run');
    const [row] = await s.db.sql`select id, client_id from tool_calls where tenant_id = ${t.tenant.id} and arguments->>'message' = 'legacy-run'`;
    expect(row!.client_id).toBe(clients.chat);
    // The widget names the chat app's JSON-RPC request id: the call runs on.
    const note = { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId: 4242, reason: 'widget' } };
    expect((await s.post(note, { authorization: `Bearer ${tok('widget')}`, ...legacy }, t.mcpUrl)).status).toBe(202);
    await sleep(400);
    expect(await statusOf(row!.id as string)).toBe('running');
    // The chat app's own notification stops it.
    expect((await s.post(note, { authorization: `Bearer ${tok('chat')}`, ...legacy }, t.mcpUrl)).status).toBe(202);
    await saw('aborted', 'legacy-run');
    expect(await statusOf(row!.id as string)).toBe('cancelled');
    await (await running).text();
  }, 30_000);

  it('the consent page says the history scopes in plain words; the resource metadata does not advertise them', async () => {
    const consent = (p: string[]) => p.find((h) => h.includes('name="csrf"')) ?? '';
    expect(consent(tokens.reader!.pages)).toContain('See the tool calls and results of your other apps');
    expect(consent(tokens.canceller!.pages)).toContain('See and stop the tool calls of your other apps');
    expect(consent(tokens.auditor!.pages)).toContain('See the audit history of your account');
    expect(consent(tokens.widget!.pages)).not.toContain('other apps');
    const prm = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${t.slug}/mcp`)).json()) as { scopes_supported: string[] };
    expect(prm.scopes_supported.sort()).toEqual(['tools:echo', 'tools:web_search', 'tools:whoami']);
  });
});
