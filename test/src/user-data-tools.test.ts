import { CALL_META, type CallMeta } from '@mcprt/api';
import { specTypeSchemas } from '@modelcontextprotocol/client';
import { CallToolResultSchema, ListToolsResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { tenantSetScavioKey } from '@mcprt/cli';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startCalendarDouble, type CalendarDouble } from '../doubles/calendar.js';
import { calendarFixture } from '../doubles/calendar-fixtures.js';
import { startGithubDouble, type GithubDouble } from '../doubles/github.js';
import { githubRepo } from '../doubles/github-fixtures.js';
import { GMAIL_SCOPES, startGmailDouble, type GmailDouble } from '../doubles/gmail.js';
import { gmailMessage } from '../doubles/gmail-fixtures.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * The user-data tools end to end — MCP SDK client → API → queue → worker → the tool's
 * authenticated upstream client → the Gmail, Calendar and GitHub doubles — with real Postgres,
 * Redis and IdP. Each user's own token reaches only that user's data; every upstream failure mode
 * reaches the user as its mapped, specific tool error.
 */
const GMAIL_RO = GMAIL_SCOPES.readonly;
const CAL_RO = 'https://www.googleapis.com/auth/calendar.readonly';
const TOOLS = ['whoami', 'web_search', 'email_search', 'email_read', 'calendar_read', 'github_repos', 'github_search_code', 'github_read_file', 'echo'];
const SCOPE = TOOLS.map((t) => `tools:${t}`).join(' ');
const HOUR = 3600_000;
const DAY = 24 * HOUR;

type Result = ReturnType<typeof CallToolResultSchema.parse>;

describe('user-data tools: Gmail, Calendar, GitHub with the user’s own token', () => {
  let s: Stack;
  let gmail: GmailDouble;
  let calendar: CalendarDouble;
  let github: GithubDouble;
  const ids: Record<string, string> = {};
  const now = Date.now();

  beforeAll(async () => {
    [gmail, calendar, github] = await Promise.all([startGmailDouble(), startCalendarDouble(), startGithubDouble()]);
    s = await startStack({
      label: 'udtools',
      enabledTools: TOOLS,
      extraSubjects: ['dave', 'erin', 'frank'],
      env: {
        GMAIL_BASE_URL: gmail.url,
        GOOGLE_CALENDAR_BASE_URL: calendar.url,
        GITHUB_API_BASE_URL: github.url,
        UPSTREAM_TIMEOUT_MS: '1500',
        UPSTREAM_MAX_BODY_BYTES: String(256 * 1024),
        JOB_ATTEMPTS: '2',
      },
    });

    // Gmail: alice's mailbox and bob's.
    const aliceMail = [
      gmailMessage({
        from: 'carol@example.test',
        to: 'alice@example.test',
        subject: 'Quarterly invoice',
        text: 'Please pay the invoice by Friday.',
        date: new Date(now - DAY),
      }),
      gmailMessage({
        from: 'news@example.test',
        to: 'alice@example.test',
        subject: 'Newsletter',
        html: '<html><head><style>p{color:red}</style></head><body><p>Hello <b>Alice</b></p><p>Read <a href="https://example.test/more">more</a> &amp; enjoy</p><script>alert(1)</script></body></html>',
        date: new Date(now - 2 * DAY),
      }),
      gmailMessage({ from: 'log@example.test', to: 'alice@example.test', subject: 'Long report', text: 'é'.repeat(30_000), date: new Date(now - 3 * DAY) }),
      gmailMessage({ from: 'dan@example.test', to: 'alice@example.test', subject: 'Lunch?', text: 'Lunch on Thursday?', date: new Date(now - 4 * DAY) }),
      gmailMessage({
        from: 'eve@example.test',
        to: 'alice@example.test',
        subject: 'Photos',
        text: 'See attached',
        attachments: [{ filename: 'a.jpg', mimeType: 'image/jpeg', size: 1234 }],
        date: new Date(now - 5 * DAY),
      }),
    ];
    ids.aliceInvoice = aliceMail[0]!.id;
    ids.aliceNewsletter = aliceMail[1]!.id;
    ids.aliceLong = aliceMail[2]!.id;
    ids.alicePhotos = aliceMail[4]!.id;
    gmail.addUser('ya29.alice', { scopes: [GMAIL_RO, CAL_RO], data: { email: 'alice@example.test', messages: aliceMail } });
    const bobMail = [
      gmailMessage({ from: 'hr@example.test', to: 'bob@example.test', subject: 'Bob salary invoice', text: 'bob-only-secret', date: new Date(now - DAY) }),
    ];
    ids.bobSalary = bobMail[0]!.id;
    gmail.addUser('ya29.bob', { scopes: [GMAIL_RO, CAL_RO], data: { email: 'bob@example.test', messages: bobMail } });

    // Calendar: alice has a daily standup (recurring), a dentist appointment and something far away.
    const at = (ms: number) => new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
    const tomorrow9 = Math.ceil((now + HOUR) / HOUR) * HOUR;
    calendar.addUser('ya29.alice', {
      scopes: [GMAIL_RO, CAL_RO],
      data: {
        email: 'alice@example.test',
        calendars: [
          calendarFixture({
            id: 'alice@example.test',
            summary: 'Alice',
            timeZone: 'Europe/Berlin',
            primary: true,
            events: [
              {
                summary: 'Standup',
                start: at(tomorrow9),
                end: at(tomorrow9 + HOUR / 4),
                timeZone: 'Europe/Berlin',
                recurrence: ['RRULE:FREQ=DAILY;COUNT=4'],
                attendees: [{ email: 'bob@example.test', displayName: 'Bob', responseStatus: 'accepted' }],
              },
              { summary: 'Dentist', location: 'Main St 1', start: at(now + 2 * DAY), end: at(now + 2 * DAY + HOUR), timeZone: 'Europe/Berlin' },
              { summary: 'Far away conference', start: at(now + 30 * DAY), end: at(now + 31 * DAY) },
            ],
          }),
          calendarFixture({
            id: 'team@example.test',
            summary: 'Team',
            timeZone: 'UTC',
            events: [{ summary: 'Team offsite', start: at(now + DAY), end: at(now + DAY + HOUR) }],
          }),
        ],
      },
    });
    calendar.addUser('ya29.bob', {
      scopes: [CAL_RO],
      data: {
        email: 'bob@example.test',
        calendars: [
          calendarFixture({
            id: 'bob@example.test',
            summary: 'Bob',
            timeZone: 'UTC',
            primary: true,
            events: [{ summary: 'Bob secret meeting', start: at(now + DAY), end: at(now + DAY + HOUR) }],
          }),
        ],
      },
    });

    // GitHub: alice's private and public repositories, bob's private one.
    github.addRepo(
      githubRepo({
        owner: 'alice',
        name: 'secret-alice',
        private: true,
        description: 'Alice private',
        files: {
          'README.md': '# Secret Alice\nneedle in alice private\n',
          'src/app.ts': 'export const needle = "alice";\n',
          'logo.png': Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
          'big.bin': { generated: 2_000_000 },
          'long.txt': 'line of text\n'.repeat(10_000),
        },
        refs: { v1: { 'README.md': '# Secret Alice v1\n' } },
      }),
      githubRepo({ owner: 'alice', name: 'public-lib', files: { 'index.js': 'module.exports = "needle public";\n' } }),
      githubRepo({ owner: 'bob', name: 'bob-private', private: true, files: { 'secret.txt': 'needle bob-only-secret\n' } }),
    );
    github.addUser('gho_alice', { scopes: ['repo', 'read:user'], data: { user: { login: 'alice', id: 1 } } });
    github.addUser('gho_bob', { scopes: ['repo', 'read:user'], data: { user: { login: 'bob', id: 2 } } });
    github.addUser('gho_carol', { scopes: ['read:user'], data: { user: { login: 'carol', id: 3 } } });
    // dave's stored credential says `repo`, but GitHub grants only public_repo (e.g. narrowed since).
    github.addUser('gho_dave', { scopes: ['public_repo'], data: { user: { login: 'dave', id: 4 } } });
    github.repos.find((r) => r.name === 'secret-alice')!.collaborators.push('dave');

    for (const sub of ['alice', 'bob']) {
      await s.connectProvider(sub, 'google', { accessToken: `ya29.${sub}`, scopes: [GMAIL_RO, CAL_RO] });
      await s.connectProvider(sub, 'github', { accessToken: `gho_${sub}`, scopes: ['repo', 'read:user'] });
    }
    await s.connectProvider('carol', 'github', { accessToken: 'gho_carol', scopes: ['read:user'] });
    await s.connectProvider('dave', 'github', { accessToken: 'gho_dave', scopes: ['repo'] });
    await s.connectUser('alice'); // whoami's idp credential
  }, 60_000);

  afterEach(() => {
    gmail.clearFailures();
    calendar.clearFailures();
    github.clearFailures();
  });
  afterAll(async () => {
    await s?.close();
    await Promise.all([gmail?.close(), calendar?.close(), github?.close()]);
  });

  const call = async (sub: string, name: string, args: Record<string, unknown> = {}): Promise<Result & { meta: CallMeta; ms: number }> => {
    const client = await s.client(await s.token(sub, { scope: SCOPE }));
    const t0 = performance.now();
    const res = CallToolResultSchema.parse(await client.callTool({ name, arguments: args }, { timeout: 30_000 }));
    return { ...res, meta: res._meta?.[CALL_META] as CallMeta, ms: performance.now() - t0 };
  };
  const ok = async (sub: string, name: string, args: Record<string, unknown> = {}) => {
    const r = await call(sub, name, args);
    expect(r.isError ?? false, JSON.stringify(r.content)).toBe(false);
    return r.structuredContent as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const textOf = (r: Result) => r.content.map((c) => (c.type === 'text' ? c.text : '')).join('\n');
  /** The call failed with this code (read from its row) and the user read `text` in the result. */
  const fails = async (sub: string, name: string, args: Record<string, unknown>, code: string, text: RegExp) => {
    const r = await call(sub, name, args);
    expect(r.isError, JSON.stringify(r.content)).toBe(true);
    expect(textOf(r)).toMatch(text);
    if (r.meta) {
      const [row] = await s.db.sql`select status, error from tool_calls where tenant_id = ${s.tenant.id} and id = ${r.meta.id}`;
      expect(row!.status).toBe('failed');
      expect(row!.error.code).toBe(code);
    }
    return r;
  };

  describe('tools/list and the output contract', () => {
    it("validates against the SDK's own schemas, with annotations and an output schema per tool", async () => {
      const client = await s.client(await s.token('alice', { scope: SCOPE }));
      const listed = await client.listTools();
      // v2's schemas are Standard Schema: no issues = valid.
      const v2 = specTypeSchemas.ListToolsResult['~standard'].validate(listed) as { issues?: unknown[] };
      expect(v2.issues, JSON.stringify(v2.issues)).toBeUndefined();
      expect(ListToolsResultSchema.safeParse(listed).success).toBe(true);
      // The deployment's tools, then the built-in tool_call_result (results of calls that outlived the wait).
      expect(listed.tools.map((t) => t.name)).toEqual([...TOOLS, 'tool_call_result']);
      for (const t of listed.tools.filter((x) => x.name !== 'tool_call_result') as Array<{
        name: string;
        annotations?: Record<string, unknown>;
        outputSchema?: unknown;
      }>) {
        expect(t.annotations, t.name).toMatchObject({ readOnlyHint: true, openWorldHint: t.name !== 'echo', idempotentHint: expect.any(Boolean) });
        expect(t.outputSchema, t.name).toBeDefined();
      }
    });

    it("every tool's structuredContent validates against its outputSchema, and a readable text block comes beside it", async () => {
      const client = await s.client(await s.token('alice', { scope: SCOPE }));
      const { tools } = await client.listTools();
      const validator = new AjvJsonSchemaValidator();
      const args: Record<string, Record<string, unknown>> = {
        whoami: {},
        web_search: { query: 'mcp', max_results: 3 },
        email_search: { query: 'invoice' },
        email_read: { id: ids.aliceInvoice },
        calendar_read: {},
        github_repos: {},
        github_search_code: { query: 'needle' },
        github_read_file: { repo: 'alice/secret-alice', path: 'README.md' },
        echo: { message: 'hi' },
      };
      // tool_call_result (built in) is exercised by tasks.test.ts.
      for (const t of tools.filter((x) => x.name !== 'tool_call_result')) {
        const r = CallToolResultSchema.parse(await client.callTool({ name: t.name, arguments: args[t.name]! }, { timeout: 30_000 }));
        expect(r.isError ?? false, `${t.name}: ${JSON.stringify(r.content)}`).toBe(false);
        const check = validator.getValidator(t.outputSchema as Parameters<typeof validator.getValidator>[0])(r.structuredContent);
        expect(check.valid, `${t.name}: ${check.errorMessage}`).toBe(true);
        const text = textOf(r);
        expect(text.length, t.name).toBeGreaterThan(0);
      }
      // The user-data tools write prose, not JSON, in their text block.
      const mail = CallToolResultSchema.parse(await client.callTool({ name: 'email_search', arguments: { query: 'invoice' } }));
      expect(textOf(mail)).toMatch(/^1 message\(s\) for "invoice":\n- \[/);
    }, 60_000);

    it('web_search bounds its result count', async () => {
      const out = await ok('alice', 'web_search', { query: 'anything', max_results: 2 });
      expect(out.results.length).toBeLessThanOrEqual(2);
      // Invalid arguments are refused before anything is recorded: the text names the field.
      const r = await call('alice', 'web_search', { query: 'x', max_results: 50 });
      expect(r.isError).toBe(true);
      expect(textOf(r)).toMatch(/^Invalid arguments for web_search: max_results/);
    });
  });

  describe('Gmail', () => {
    it("email_search: alice finds her own mail, never bob's; bob his", async () => {
      const from = gmail.requests.length;
      const a = await ok('alice', 'email_search', { query: 'invoice' });
      expect(a.messages.map((m: { subject: string }) => m.subject)).toEqual(['Quarterly invoice']);
      expect(a.messages[0]).toMatchObject({ from: 'carol@example.test', to: 'alice@example.test', labels: ['INBOX'], snippet: expect.stringContaining('pay') });
      expect(JSON.stringify(a)).not.toContain('salary');
      const b = await ok('bob', 'email_search', { query: 'invoice' });
      expect(b.messages.map((m: { subject: string }) => m.subject)).toEqual(['Bob salary invoice']);
      // Each call went out with its own user's token only.
      const mine = gmail.requests.slice(from);
      expect(mine.filter((r) => r.token === 'ya29.alice').length).toBe(2); // list + one metadata fetch
      expect(mine.filter((r) => r.token === 'ya29.bob').length).toBe(2);
      expect(mine.every((r) => r.token === 'ya29.alice' || r.token === 'ya29.bob')).toBe(true);
      // Metadata only, no bodies.
      expect(mine.filter((r) => r.path.includes('/messages/')).every((r) => r.query.get('format') === 'metadata')).toBe(true);
    });

    it('a broader Gmail grant covers the narrower scope the tool asks for: frank granted gmail.modify, email_search runs', async () => {
      // The tool asks for gmail.readonly; Google documents gmail.modify as enough for messages.list / get
      // (packages/policy/src/scope-implication.ts). Exact matching refused frank with an upgrade link.
      const mail = [
        gmailMessage({ from: 'gina@example.test', to: 'frank@example.test', subject: 'Frank invoice', text: 'for frank', date: new Date(now - DAY) }),
      ];
      gmail.addUser('ya29.frank', { scopes: [GMAIL_SCOPES.modify], data: { email: 'frank@example.test', messages: mail } });
      await s.connectProvider('frank', 'google', { accessToken: 'ya29.frank', scopes: [GMAIL_SCOPES.modify] });
      const from = gmail.requests.length;
      const out = await ok('frank', 'email_search', { query: 'invoice' });
      expect(out.messages.map((m: { subject: string }) => m.subject)).toEqual(['Frank invoice']);
      expect(gmail.requests.slice(from).every((r) => r.token === 'ya29.frank')).toBe(true);
      // The implication is one-way: a gmail.metadata grant does not cover gmail.readonly.
      await s.connectProvider('frank', 'google', { accessToken: 'ya29.frank', scopes: [GMAIL_SCOPES.metadata] });
      await fails('frank', 'email_search', {}, 'upstream_scope_missing', /did not grant https:\/\/www\.googleapis\.com\/auth\/gmail\.readonly/);
    });

    it('email_search: empty results, and paging with page_token', async () => {
      const none = await ok('alice', 'email_search', { query: 'zzz-no-such-thing' });
      expect(none).toMatchObject({ messages: [], nextPageToken: null });
      const p1 = await ok('alice', 'email_search', { max_results: 2 });
      expect(p1.messages).toHaveLength(2);
      expect(p1.nextPageToken).toEqual(expect.any(String));
      const p2 = await ok('alice', 'email_search', { max_results: 2, page_token: p1.nextPageToken });
      expect(p2.messages).toHaveLength(2);
      const p3 = await ok('alice', 'email_search', { max_results: 2, page_token: p2.nextPageToken });
      expect(p3.messages).toHaveLength(1);
      expect(p3.nextPageToken).toBeNull();
      const all = [...p1.messages, ...p2.messages, ...p3.messages].map((m: { id: string }) => m.id);
      expect(new Set(all).size).toBe(5);
    });

    it('email_search fetches metadata with bounded concurrency', async () => {
      gmail.resetConcurrency();
      gmail.failAlways({ delayMs: 150, match: { path: /\/messages\/[^/]+$/ } });
      const out = await ok('alice', 'email_search', { max_results: 5 });
      expect(out.messages).toHaveLength(5);
      expect(gmail.concurrency().max).toBeGreaterThan(1);
      expect(gmail.concurrency().max).toBeLessThanOrEqual(5);
    });

    it('email_read: plain text, HTML as text, size cap, attachments listed; bob’s message is not found for alice', async () => {
      const inv = await ok('alice', 'email_read', { id: ids.aliceInvoice });
      expect(inv).toMatchObject({ subject: 'Quarterly invoice', body: 'Please pay the invoice by Friday.', bodyFormat: 'text', bodyTruncated: false });
      const news = await ok('alice', 'email_read', { id: ids.aliceNewsletter });
      expect(news.bodyFormat).toBe('html-as-text');
      expect(news.body).toBe('Hello Alice\n\nRead more (https://example.test/more) & enjoy');
      const long = await ok('alice', 'email_read', { id: ids.aliceLong, max_body_bytes: 5_000 });
      expect(long.bodyTruncated).toBe(true);
      expect(Buffer.byteLength(long.body)).toBeLessThanOrEqual(5_000);
      expect(long.body).toMatch(/^é+$/); // cut at a character boundary
      const photos = await ok('alice', 'email_read', { id: ids.alicePhotos });
      expect(photos.attachments).toEqual([{ filename: 'a.jpg', mimeType: 'image/jpeg', size: 1234 }]);
      const r = await fails('alice', 'email_read', { id: ids.bobSalary }, 'upstream_not_found', /Gmail: no message with id [0-9a-f]+ in your mailbox \(404\)/);
      expect(textOf(r)).not.toContain('bob-only-secret');
    });
  });

  describe('Calendar', () => {
    it('calendar_read: default window now→7 days on primary, recurring events expanded, never bob’s', async () => {
      const out = await ok('alice', 'calendar_read', {});
      const summaries = out.events.map((e: { summary: string }) => e.summary);
      expect(summaries.filter((x: string) => x === 'Standup')).toHaveLength(4); // the series, expanded
      expect(summaries).toContain('Dentist');
      expect(summaries).not.toContain('Far away conference'); // outside the default window
      expect(summaries).not.toContain('Team offsite'); // another calendar
      expect(summaries).not.toContain('Bob secret meeting');
      const standup = out.events.find((e: { summary: string }) => e.summary === 'Standup');
      expect(standup).toMatchObject({
        start: { timeZone: 'Europe/Berlin' },
        recurringEventId: expect.any(String),
        attendees: [{ email: 'bob@example.test', name: 'Bob', response: 'accepted' }],
      });
      expect(Date.parse(out.timeMax) - Date.parse(out.timeMin)).toBe(7 * DAY);
      const req = calendar.requests.at(-1)!;
      expect(req.path).toBe('/calendar/v3/calendars/primary/events');
      expect(req.query.get('singleEvents')).toBe('true');
      const bob = await ok('bob', 'calendar_read', {});
      expect(bob.events.map((e: { summary: string }) => e.summary)).toEqual(['Bob secret meeting']);
    });

    it('calendar_read: chosen calendar, text query, empty window, max_results', async () => {
      expect((await ok('alice', 'calendar_read', { calendar_id: 'team@example.test' })).events.map((e: { summary: string }) => e.summary)).toEqual([
        'Team offsite',
      ]);
      expect((await ok('alice', 'calendar_read', { query: 'dentist' })).events.map((e: { summary: string }) => e.summary)).toEqual(['Dentist']);
      const empty = await ok('alice', 'calendar_read', {
        time_min: new Date(now + 100 * DAY).toISOString(),
        time_max: new Date(now + 101 * DAY).toISOString(),
      });
      expect(empty).toMatchObject({ events: [], truncated: false });
      const two = await ok('alice', 'calendar_read', { max_results: 2 });
      expect(two.events).toHaveLength(2);
      expect(two.truncated).toBe(true);
      await fails('alice', 'calendar_read', { calendar_id: 'bob@example.test' }, 'upstream_not_found', /no calendar "bob@example.test" in your calendar list/);
    });
  });

  describe('GitHub', () => {
    it('github_repos: private ones included, only what the user can see', async () => {
      const a = await ok('alice', 'github_repos', {});
      expect(a.repositories.map((r: { fullName: string }) => r.fullName)).toEqual(['alice/public-lib', 'alice/secret-alice']);
      expect(a.repositories.find((r: { fullName: string }) => r.fullName === 'alice/secret-alice').private).toBe(true);
      const b = await ok('bob', 'github_repos', { visibility: 'private' });
      expect(b.repositories.map((r: { fullName: string }) => r.fullName)).toEqual(['bob/bob-private']);
      expect((await ok('bob', 'github_repos', { affiliation: ['collaborator'] })).repositories).toEqual([]);
    });

    it('github_repos pages with bounded concurrency by page number, never following Link URLs elsewhere', async () => {
      const bulk = Array.from({ length: 420 }, (_, i) => githubRepo({ owner: 'alice', name: `bulk-${String(i).padStart(3, '0')}` }));
      github.addRepo(...bulk);
      try {
        github.resetConcurrency();
        github.failAlways({ delayMs: 150, match: { path: '/user/repos' } });
        const before = github.requests.length;
        const all = await ok('alice', 'github_repos', { max_results: 500 });
        expect(all.repositories).toHaveLength(422);
        expect(all.truncated).toBe(false);
        expect(github.concurrency().max).toBeLessThanOrEqual(3);
        expect(github.requests.slice(before).map((r) => r.query.get('page'))).toEqual(expect.arrayContaining(['1', '2', '3', '4', '5']));
        const some = await ok('alice', 'github_repos', { max_results: 150 });
        expect(some.repositories).toHaveLength(150);
        expect(some.truncated).toBe(true);
        // A Link header pointing at another (private) address: only its page numbers are read.
        github.clearFailures();
        github.failNext({
          headers: { link: '<http://10.0.0.1/user/repos?page=2>; rel="next", <http://10.0.0.1/user/repos?page=2>; rel="last"' },
          match: { path: '/user/repos' },
        });
        const n = github.requests.length;
        const linked = await ok('alice', 'github_repos', { max_results: 200 });
        expect(linked.repositories).toHaveLength(200);
        expect(github.requests.slice(n).every((r) => r.token === 'gho_alice')).toBe(true);
      } finally {
        github.repos.splice(0, github.repos.length, ...github.repos.filter((r) => !r.name.startsWith('bulk-')));
      }
    }, 30_000);

    it("github_search_code: alice's repositories (or one named), never bob's; empty results; an inaccessible repo is a clear error", async () => {
      const mine = await ok('alice', 'github_search_code', { query: 'needle' });
      expect(mine.items.map((i: { repository: string; path: string }) => `${i.repository}:${i.path}`).sort()).toEqual([
        'alice/public-lib:index.js',
        'alice/secret-alice:README.md',
        'alice/secret-alice:src/app.ts',
      ]);
      expect(mine.query).toBe('needle user:alice');
      const one = await ok('alice', 'github_search_code', { query: 'needle', repo: 'alice/public-lib' });
      expect(one.items.map((i: { path: string }) => i.path)).toEqual(['index.js']);
      expect(await ok('alice', 'github_search_code', { query: 'nothing-matches-this' })).toMatchObject({ totalCount: 0, items: [] });
      const r = await fails(
        'alice',
        'github_search_code',
        { query: 'needle', repo: 'bob/bob-private' },
        'upstream_rejected',
        /GitHub rejected the request \(422\): The listed users and repositories cannot be searched/,
      );
      expect(textOf(r)).not.toContain('bob-only-secret');
      const bob = await ok('bob', 'github_search_code', { query: 'needle' });
      expect(bob.items.map((i: { repository: string }) => i.repository)).toEqual(['bob/bob-private']);
    });

    it('github_read_file: text at a ref, size cap, binary and large files refused clearly, directories named, bob’s file not found', async () => {
      expect(await ok('alice', 'github_read_file', { repo: 'alice/secret-alice', path: 'README.md' })).toMatchObject({
        text: '# Secret Alice\nneedle in alice private\n',
        truncated: false,
      });
      expect((await ok('alice', 'github_read_file', { repo: 'alice/secret-alice', path: 'README.md', ref: 'v1' })).text).toBe('# Secret Alice v1\n');
      const long = await ok('alice', 'github_read_file', { repo: 'alice/secret-alice', path: 'long.txt', max_bytes: 1_000 });
      expect(long).toMatchObject({ truncated: true, size: 130_000 });
      expect(long.text.length).toBe(1_000);
      await fails(
        'alice',
        'github_read_file',
        { repo: 'alice/secret-alice', path: 'logo.png' },
        'binary_file',
        /logo\.png is a binary file \(12 bytes\); github_read_file reads text files only/,
      );
      await fails(
        'alice',
        'github_read_file',
        { repo: 'alice/secret-alice', path: 'big.bin' },
        'file_too_large',
        /big\.bin is 2000000 bytes; github_read_file reads files up to 1 MB/,
      );
      await fails(
        'alice',
        'github_read_file',
        { repo: 'alice/secret-alice', path: 'src' },
        'not_a_file',
        /src is a directory in alice\/secret-alice, not a file\. Its entries: app\.ts/,
      );
      await fails(
        'alice',
        'github_read_file',
        { repo: 'alice/secret-alice', path: 'nope.md' },
        'upstream_not_found',
        /GitHub: no file nope\.md in alice\/secret-alice that you can see/,
      );
      const r = await fails(
        'alice',
        'github_read_file',
        { repo: 'bob/bob-private', path: 'secret.txt' },
        'upstream_not_found',
        /no file secret\.txt in bob\/bob-private/,
      );
      expect(textOf(r)).not.toContain('bob-only-secret');
    });

    it('a user whose GitHub grant lacks `repo` gets the upgrade link (before any upstream request)', async () => {
      const before = github.requests.length;
      const r = await call('carol', 'github_repos', {});
      expect(r.isError).toBe(true);
      // This tenant is `external` (no connect route of ours), so the refusal is the clear error alone; a
      // builtin tenant with the provider configured answers with the link made for the user
      // (connect-providers.test.ts › the connect flow and URL elicitation).
      expect(textOf(r)).toBe('Your github account did not grant repo; sign in again and allow it to use github_repos.');
      expect(r._meta?.['io.mcprt/error']).toEqual({ code: 'upstream_scope_missing' });
      expect(github.requests.length).toBe(before);
    });

    it('GitHub answering 403 with X-Accepted-OAuth-Scopes: repo (grant narrowed upstream) → the upgrade link', async () => {
      const r = await fails(
        'dave',
        'github_read_file',
        { repo: 'alice/secret-alice', path: 'README.md' },
        'upstream_scope_missing',
        /Your github sign-in does not allow this: GitHub needs repo\. Grant it at http:\/\/127\.0\.0\.1:\d+\/t\/[^/]+\/connect\/github\?scopes=repo and call again\./,
      );
      const [row] = await s.db.sql`select error from tool_calls where id = ${r.meta.id}`;
      expect(row!.error.details).toEqual({
        upgradeUrl: `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/connect/github?scopes=repo`,
        provider: 'github',
        scopes: ['repo'],
      });
    });
  });

  describe('each upstream failure reaches the user as its mapped error', () => {
    const cases = [
      {
        double: () => gmail as GmailDouble | CalendarDouble | GithubDouble,
        tool: 'email_search',
        args: { query: 'invoice' },
        service: 'Gmail',
        path: '/gmail/v1/users/me/messages',
      },
      { double: () => calendar, tool: 'calendar_read', args: {}, service: 'Google Calendar', path: '/calendar/v3/calendars/primary/events' },
      { double: () => github, tool: 'github_repos', args: {}, service: 'GitHub', path: '/user/repos' },
    ];
    for (const c of cases) {
      describe(c.tool, () => {
        const count = () => c.double().requests.filter((r) => r.path === c.path).length;

        it('404 → a clear not-found error', async () => {
          c.double().failNext({ status: 404, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'upstream_not_found', new RegExp(`^${c.service}: .*\\(404\\)$`));
        });

        it('403 for a missing scope (Google) / a plain 403 (GitHub) → upgrade link / forbidden', async () => {
          c.double().failNext({ status: 403, match: { path: c.path } });
          if (c.service === 'GitHub') {
            // The double's scripted 403 says X-Accepted-OAuth-Scopes: repo, and alice's token has repo (X-OAuth-Scopes):
            // not a scope problem, so no upgrade link (the dave test above covers the missing-scope 403).
            await fails('alice', c.tool, c.args, 'upstream_forbidden', /^GitHub refused access \(403\): Resource not accessible with this token/);
          } else {
            const scope = c.tool === 'email_search' ? GMAIL_RO : CAL_RO;
            const link = `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/connect/google?scopes=${encodeURIComponent(scope)}`;
            const r = await fails('alice', c.tool, c.args, 'upstream_scope_missing', new RegExp(`Your google sign-in does not allow this: ${c.service} needs`));
            expect(textOf(r)).toContain(link);
          }
        });

        it('429 with Retry-After → this user waits at this provider, then the call succeeds (no attempt spent)', async () => {
          const n = count();
          // 429 (wait), then 500 (a retry: attempt 2 of JOB_ATTEMPTS=2), then success. Had the 429 spent
          // an attempt, the 500 would have been the last one and the call would fail.
          c.double().failNext({ status: 429, retryAfter: 1, match: { path: c.path } });
          c.double().failNext({ status: 500, match: { path: c.path } });
          const r = await call('alice', c.tool, c.args);
          expect(r.isError ?? false, JSON.stringify(r.content)).toBe(false);
          expect(r.ms).toBeGreaterThanOrEqual(900);
          expect(count() - n).toBe(3);
        }, 20_000);

        it('500 once → retried, succeeds; 500 always → upstream_error after the attempts', async () => {
          c.double().failNext({ status: 500, match: { path: c.path } });
          const r = await call('alice', c.tool, c.args);
          expect(r.isError ?? false).toBe(false);
          const stop = c.double().failAlways({ status: 500, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'upstream_error', new RegExp(`${c.service} failed \\(500\\)`));
          stop();
        }, 20_000);

        it('slow past the request deadline → upstream_timeout', async () => {
          c.double().failAlways({ delayMs: 2_500, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'upstream_timeout', new RegExp(`${c.service} timed out`));
        }, 20_000);

        it('oversized body → upstream_response_too_large', async () => {
          c.double().failNext({ oversized: { bytes: 1024 * 1024 }, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'upstream_response_too_large', new RegExp(`${c.service} answered with more than 262144 bytes`));
        });

        it('malformed JSON → upstream_bad_response', async () => {
          c.double().failAlways({ malformedJson: true, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'upstream_bad_response', new RegExp(`${c.service} answered with invalid JSON`));
        }, 20_000);

        it('redirect to a private address → refused, not followed', async () => {
          c.double().failNext({ redirect: `http://10.0.0.1${c.path}`, match: { path: c.path } });
          await fails('alice', c.tool, c.args, 'egress_refused', new RegExp(`${c.service} redirected to another origin; the request was not followed`));
        });
      });
    }

    it('401 → refresh path; without a refresh token → reauth_required with the reconnect link, credential marked', async () => {
      await s.connectProvider('erin', 'google', { accessToken: 'ya29.erin', scopes: [GMAIL_RO, CAL_RO] });
      gmail.addUser('ya29.erin', { scopes: [GMAIL_RO], data: { email: 'erin@example.test', messages: [] } });
      gmail.revoke('ya29.erin');
      const link = `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/connect/google`;
      await fails('erin', 'email_search', {}, 'reauth_required', new RegExp(`reconnect at ${link.replace(/[.?]/g, '\\$&')} and call again`));
      const [cred] = await s.db
        .sql`select c.status from credentials c join users u on u.id = c.user_id where c.tenant_id = ${s.tenant.id} and u.subject = 'erin' and c.provider = 'google'`;
      expect(cred!.status).toBe('reauth_required');
      // From now on the policy refuses before any upstream request.
      const before = gmail.requests.length;
      const again = await call('erin', 'email_search', {});
      expect(again.isError).toBe(true);
      expect(textOf(again)).toMatch(/Your google account needs reconnecting/);
      expect(gmail.requests.length).toBe(before);
    });

    it('GitHub 401 → reauth_required as well', async () => {
      await s.connectProvider('erin', 'github', { accessToken: 'gho_erin', scopes: ['repo'] });
      github.addUser('gho_erin', { scopes: ['repo'], data: { user: { login: 'erin', id: 5 } } });
      github.failNext({ status: 401, match: { token: 'gho_erin' } });
      await fails('erin', 'github_repos', {}, 'reauth_required', /Your github sign-in is no longer accepted; reconnect at .*\/connect\/github and call again/);
    });
  });

  it('the audit rows of a call show tool, user, outcome and the (redacted) arguments', async () => {
    const r = await call('alice', 'email_search', { query: 'lunch', max_results: 3 });
    const failed = await call('alice', 'email_read', { id: ids.bobSalary });
    const echoed = await call('alice', 'echo', { message: 'm', secret: 'hunter2-secret' });
    const rows = async (id: string) =>
      s.db.sql`select a.action, a.decision, a.reason, a.tool, a.arguments, u.subject from audit_events a join users u on u.id = a.user_id
               where a.tenant_id = ${s.tenant.id} and a.call_id = ${id} order by a.id`;
    expect(await rows(r.meta.id)).toEqual([
      { action: 'tool_call.accepted', decision: 'allow', reason: null, tool: 'email_search', arguments: { query: 'lunch', max_results: 3 }, subject: 'alice' },
      { action: 'tool_call.succeeded', decision: 'allow', reason: null, tool: 'email_search', arguments: null, subject: 'alice' },
    ]);
    expect(await rows(failed.meta.id)).toEqual([
      expect.objectContaining({ action: 'tool_call.accepted', tool: 'email_read', arguments: { id: ids.bobSalary, max_body_bytes: 20_000 }, subject: 'alice' }),
      expect.objectContaining({ action: 'tool_call.failed', decision: 'deny', reason: 'upstream_not_found', tool: 'email_read', subject: 'alice' }),
    ]);
    const echoRows = await rows(echoed.meta.id);
    expect(echoRows[0]!.arguments).toEqual({ message: 'm', delayMs: 0, secret: '[redacted]' });
    expect(JSON.stringify(echoRows)).not.toContain('hunter2');
  });

  it("web_search uses the tenant's own sealed Scavio key when set (tenant set-scavio-key), the operator's otherwise", async () => {
    const out: string[] = [];
    const cli = { db: s.db.db, config: s.config, out: (l: string) => out.push(l), err: () => undefined };
    await tenantSetScavioKey(cli, { slug: s.tenant.slug, apiKey: 'sk_tenant_own_key_1' });
    expect(out.join('\n')).not.toContain('sk_tenant_own_key_1');
    const [row] = await s.db.sql`select scavio_key_sealed from tenants where id = ${s.tenant.id}`;
    expect(row!.scavio_key_sealed).toEqual(expect.any(String));
    expect(row!.scavio_key_sealed).not.toContain('sk_tenant_own_key_1');
    // The worker caches tenants for 30 s: a fresh worker sees the key now.
    await s.stopWorker();
    await s.startWorker();
    try {
      const n = s.scavio.requests.length;
      // The double knows only the operator's key: the tenant's key is refused there, which shows it was the one sent.
      const r = await fails('alice', 'web_search', { query: 'tenant key' }, 'upstream_unauthorized', /Scavio refused the credentials \(401\)/);
      expect(textOf(r)).not.toContain('sk_tenant');
      const sent = s.scavio.requests.slice(n).map((q) => q.headers['authorization']);
      expect(sent.length).toBeGreaterThan(0);
      expect(sent.every((h) => h === 'Bearer sk_tenant_own_key_1')).toBe(true);
    } finally {
      await tenantSetScavioKey(cli, { slug: s.tenant.slug, clear: true });
      await s.stopWorker();
      await s.startWorker();
    }
    expect((await ok('alice', 'web_search', { query: 'operator key again' })).results.length).toBeGreaterThan(0);
  }, 30_000);

  it('no result ever carries an upstream token', async () => {
    const rows = await s.db.sql`select result, error from tool_calls where tenant_id = ${s.tenant.id}`;
    const all = JSON.stringify(rows);
    for (const t of ['ya29.alice', 'ya29.bob', 'gho_alice', 'gho_bob', 'gho_dave']) expect(all).not.toContain(t);
  });
});
