import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { gmailMessage } from './gmail-fixtures.js';
import type { GmailMessage, GmailMessagePart } from './gmail-fixtures.js';
import { GMAIL_SCOPES, startGmailDouble } from './gmail.js';
import type { GmailDouble } from './gmail.js';

// Section numbers (§n) in the test names are those of docs/upstream-apis.md, where each shape is sourced.

const ALICE = 'ya29.alice';
const ALICE_METADATA = 'ya29.alice-metadata';
const BOB = 'ya29.bob';
const NOW = Date.parse('2026-11-30T12:00:00Z');
const daysAgo = (n: number): Date => new Date(NOW - n * 86_400_000);

const aliceMessages: GmailMessage[] = [
  gmailMessage({
    id: 'a1',
    from: 'Carol <carol@example.test>',
    to: 'alice@example.test',
    subject: 'Quarterly report',
    date: daysAgo(1),
    labelIds: ['INBOX', 'UNREAD'],
    text: 'Numbers attached. Revenue is up.',
    html: '<p>Numbers attached. <b>Revenue</b> is up.</p>',
    attachments: [{ filename: 'q3.pdf', mimeType: 'application/pdf', size: 48_213 }],
  }),
  gmailMessage({ id: 'a2', from: 'dave@example.test', to: 'alice@example.test', subject: 'Lunch?', date: daysAgo(2), text: 'Noon at the usual place.' }),
  gmailMessage({ id: 'a3', from: 'spam@example.test', to: 'alice@example.test', subject: 'You won', date: daysAgo(3), labelIds: ['SPAM'], text: 'Click.' }),
  ...Array.from({ length: 7 }, (_, i) =>
    gmailMessage({
      id: `a-news-${i}`,
      from: 'news@example.test',
      to: 'alice@example.test',
      subject: `Newsletter ${i}`,
      date: daysAgo(10 + i),
      text: `Issue ${i}`,
    }),
  ),
];
const bobMessages: GmailMessage[] = [
  gmailMessage({ id: 'b1', from: 'carol@example.test', to: 'bob@example.test', subject: 'Quarterly report for Bob', date: daysAgo(1), text: 'Bob only.' }),
];

describe('Gmail double', () => {
  let gmail: GmailDouble;

  beforeAll(async () => {
    gmail = await startGmailDouble({ now: () => NOW });
    gmail.addUser(ALICE, { scopes: [GMAIL_SCOPES.readonly], data: { email: 'alice@example.test', messages: aliceMessages } });
    gmail.addToken(ALICE_METADATA, { sameUserAs: ALICE, scopes: [GMAIL_SCOPES.metadata] });
    gmail.addUser(BOB, { scopes: [GMAIL_SCOPES.readonly], data: { email: 'bob@example.test', messages: bobMessages } });
  });
  afterEach(() => gmail.clearFailures());
  afterAll(() => gmail.close());

  const get = (path: string, token: string | null = ALICE, init: RequestInit = {}): Promise<Response> =>
    fetch(`${gmail.url}/gmail/v1/users/me${path}`, {
      redirect: 'manual',
      ...init,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });
  const json = async (res: Response): Promise<Record<string, unknown>> => (await res.json()) as Record<string, unknown>;
  type GoogleError = { code: number; message: string; status: string; errors: Array<Record<string, string>>; details?: unknown[] };
  const errorOf = async (res: Response): Promise<GoogleError> => ((await res.json()) as { error: GoogleError }).error;

  describe('users.messages.list (§2.1)', () => {
    it('lists ids and threadIds newest first, without SPAM/TRASH, with resultSizeEstimate', async () => {
      const res = await get('/messages');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      const body = await json(res);
      expect(Object.keys(body).sort()).toEqual(['messages', 'resultSizeEstimate']);
      const messages = body['messages'] as Array<Record<string, string>>;
      expect(messages[0]).toEqual({ id: 'a1', threadId: 'a1' });
      expect(messages.map((m) => m.id)).not.toContain('a3');
      expect(body['resultSizeEstimate']).toBe(9);
    });

    it('includes SPAM and TRASH with includeSpamTrash=true', async () => {
      const body = await json(await get('/messages?includeSpamTrash=true'));
      expect((body['messages'] as Array<{ id: string }>).map((m) => m.id)).toContain('a3');
    });

    it('pages with maxResults and nextPageToken until the token is absent', async () => {
      const ids: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      do {
        const body = await json(await get(`/messages?maxResults=4${pageToken ? `&pageToken=${pageToken}` : ''}`));
        ids.push(...(body['messages'] as Array<{ id: string }>).map((m) => m.id));
        pageToken = body['nextPageToken'] as string | undefined;
        pages += 1;
      } while (pageToken);
      expect(pages).toBe(3);
      expect(ids).toHaveLength(9);
      expect(new Set(ids).size).toBe(9);
    });

    it('refuses a bad pageToken or maxResults with 400 badRequest', async () => {
      for (const query of ['pageToken=nonsense', 'maxResults=abc']) {
        const res = await get(`/messages?${query}`);
        expect(res.status).toBe(400);
        expect((await errorOf(res)).errors[0]).toMatchObject({ reason: 'badRequest', locationType: 'parameter' });
      }
    });

    it('clamps maxResults above 500', async () => {
      const body = await json(await get('/messages?maxResults=100000'));
      expect(body['nextPageToken']).toBeUndefined();
    });

    it.each([
      ['from:carol', ['a1']],
      ['subject:"quarterly report"', ['a1']],
      ['is:unread', ['a1']],
      ['has:attachment', ['a1']],
      ['revenue', ['a1']],
      ['from:news@example.test newsletter -"Newsletter 0"', ['a-news-1', 'a-news-2', 'a-news-3', 'a-news-4', 'a-news-5', 'a-news-6']],
      ['newer_than:5d', ['a1', 'a2']],
      ['label:inbox lunch', ['a2']],
    ])('searches with q=%s', async (q, expected) => {
      const body = await json(await get(`/messages?q=${encodeURIComponent(q)}`));
      expect(((body['messages'] ?? []) as Array<{ id: string }>).map((m) => m.id)).toEqual(expected);
    });

    it('omits messages when nothing matches', async () => {
      const body = await json(await get('/messages?q=nothing-matches-this'));
      expect(body).toEqual({ resultSizeEstimate: 0 });
    });

    it('filters labelIds, all of them', async () => {
      const body = await json(await get('/messages?labelIds=INBOX&labelIds=UNREAD'));
      expect((body['messages'] as Array<{ id: string }>).map((m) => m.id)).toEqual(['a1']);
    });

    it('refuses q with only gmail.metadata: 400 badRequest on q', async () => {
      const res = await get('/messages?q=from:carol', ALICE_METADATA);
      expect(res.status).toBe(400);
      expect((await errorOf(res)).errors[0]).toMatchObject({ reason: 'badRequest', location: 'q' });
      expect((await get('/messages', ALICE_METADATA)).status).toBe(200);
    });
  });

  describe('users.messages.get (§2.2)', () => {
    it('format=metadata returns the asked headers (case-insensitive) and no body', async () => {
      const res = await get('/messages/a1?format=metadata&metadataHeaders=from&metadataHeaders=Subject&metadataHeaders=DATE');
      expect(res.status).toBe(200);
      const body = await json(res);
      expect(body).toMatchObject({ id: 'a1', threadId: 'a1', labelIds: ['INBOX', 'UNREAD'], snippet: 'Numbers attached. Revenue is up.' });
      expect(typeof body['historyId']).toBe('string');
      expect(body['internalDate']).toBe(String(NOW - 86_400_000));
      const payload = body['payload'] as Record<string, unknown>;
      expect(Object.keys(payload).sort()).toEqual(['filename', 'headers', 'mimeType', 'partId']);
      expect((payload['headers'] as Array<{ name: string }>).map((h) => h.name)).toEqual(['From', 'Subject', 'Date']);
    });

    it('format=full returns the MIME tree with base64url bodies and attachment ids', async () => {
      const body = await json(await get('/messages/a1?format=full'));
      const payload = body['payload'] as GmailMessagePart;
      expect(payload.partId).toBe('');
      expect(payload.mimeType).toBe('multipart/mixed');
      const [alternative, attachment] = payload.parts!;
      expect(alternative!.mimeType).toBe('multipart/alternative');
      const [plain, html] = alternative!.parts!;
      expect(plain).toMatchObject({ partId: '0.0', mimeType: 'text/plain', filename: '' });
      expect(Buffer.from(plain!.body.data!, 'base64url').toString('utf8')).toBe('Numbers attached. Revenue is up.');
      expect(plain!.body.data).not.toMatch(/[+/=]/);
      expect(Buffer.from(html!.body.data!, 'base64url').toString('utf8')).toContain('<b>Revenue</b>');
      expect(attachment).toMatchObject({ partId: '1', filename: 'q3.pdf', body: { size: 48_213, attachmentId: expect.any(String) } });
      expect(attachment!.body.data).toBeUndefined();
    });

    it('defaults to format=full; a one-part message is a single text/plain payload', async () => {
      const body = await json(await get('/messages/a2'));
      const payload = body['payload'] as GmailMessagePart;
      expect(payload.mimeType).toBe('text/plain');
      expect(payload.parts).toBeUndefined();
      expect(Buffer.from(payload.body.data!, 'base64url').toString()).toBe('Noon at the usual place.');
    });

    it('format=minimal has id and labels, no payload', async () => {
      expect(await json(await get('/messages/a1?format=minimal'))).toEqual({ id: 'a1', threadId: 'a1', labelIds: ['INBOX', 'UNREAD'] });
    });

    it('omitOptionalMetadata leaves snippet, sizeEstimate, historyId and internalDate out of metadata', async () => {
      const bare = await startGmailDouble({ omitOptionalMetadata: true });
      try {
        bare.addUser('t', { scopes: [GMAIL_SCOPES.readonly], data: { email: 'alice@example.test', messages: aliceMessages } });
        const res = await fetch(`${bare.url}/gmail/v1/users/me/messages/a2?format=metadata&metadataHeaders=Subject`, {
          headers: { authorization: 'Bearer t' },
        });
        expect(await res.json()).toEqual({
          id: 'a2',
          threadId: 'a2',
          labelIds: ['INBOX'],
          payload: { partId: '', mimeType: 'text/plain', filename: '', headers: [{ name: 'Subject', value: 'Lunch?' }] },
        });
      } finally {
        await bare.close();
      }
    });

    it('with only gmail.metadata, metadata works and full is 403 insufficientPermissions', async () => {
      expect((await get('/messages/a1?format=metadata', ALICE_METADATA)).status).toBe(200);
      const res = await get('/messages/a1?format=full', ALICE_METADATA);
      expect(res.status).toBe(403);
      expect((await errorOf(res)).errors[0]!['reason']).toBe('insufficientPermissions');
    });

    it('answers an unknown id with 404 notFound', async () => {
      const res = await get('/messages/does-not-exist');
      expect(res.status).toBe(404);
      expect(await errorOf(res)).toMatchObject({ code: 404, status: 'NOT_FOUND', errors: [{ reason: 'notFound' }] });
      expect((await get('/messages/%E0%A4%A')).status).toBe(404);
    });

    it('serves a large body in full (size limits are the client’s job)', async () => {
      const big = gmailMessage({ id: 'big', from: 'x@example.test', to: 'alice@example.test', subject: 'big', date: daysAgo(0), text: 'x'.repeat(3_000_000) });
      gmail.dataOf(ALICE).messages.push(big);
      try {
        const body = await json(await get('/messages/big?format=full'));
        const payload = body['payload'] as GmailMessagePart;
        expect(payload.body.size).toBe(3_000_000);
        expect(body['sizeEstimate']).toBeGreaterThan(3_000_000);
      } finally {
        gmail.dataOf(ALICE).messages.pop();
      }
    });
  });

  describe('per-token isolation', () => {
    it("bob's token never sees alice's messages, by list, search or id", async () => {
      const list = await json(await get('/messages?q=quarterly', BOB));
      expect(list['messages']).toEqual([{ id: 'b1', threadId: 'b1' }]);
      expect((await get('/messages/a1', BOB)).status).toBe(404);
      expect((await get('/messages/b1', ALICE)).status).toBe(404);
    });

    it("refuses another user's address as userId with 403", async () => {
      const res = await fetch(`${gmail.url}/gmail/v1/users/alice@example.test/messages`, { headers: { authorization: `Bearer ${BOB}` } });
      expect(res.status).toBe(403);
      const own = await fetch(`${gmail.url}/gmail/v1/users/bob@example.test/messages`, { headers: { authorization: `Bearer ${BOB}` } });
      expect(own.status).toBe(200);
    });
  });

  describe('auth (§2.4)', () => {
    it.each([
      ['no token', null],
      ['an unknown token', 'ya29.unknown'],
    ])('answers %s with 401 authError in the Google format', async (_name, token) => {
      const res = await get('/messages', token);
      expect(res.status).toBe(401);
      expect(await errorOf(res)).toEqual({
        code: 401,
        message: 'Invalid Credentials',
        status: 'UNAUTHENTICATED',
        errors: [{ domain: 'global', reason: 'authError', message: 'Invalid Credentials', location: 'Authorization', locationType: 'header' }],
      });
    });

    it('answers a revoked token with 401', async () => {
      gmail.addToken('ya29.alice-revoked', { sameUserAs: ALICE, scopes: [GMAIL_SCOPES.readonly] });
      expect((await get('/messages', 'ya29.alice-revoked')).status).toBe(200);
      gmail.revoke('ya29.alice-revoked');
      expect((await get('/messages', 'ya29.alice-revoked')).status).toBe(401);
    });

    it('answers a token without a Gmail scope with 403 insufficientPermissions + ACCESS_TOKEN_SCOPE_INSUFFICIENT', async () => {
      gmail.addToken('ya29.alice-calendar-only', { sameUserAs: ALICE, scopes: ['https://www.googleapis.com/auth/calendar.readonly'] });
      const res = await get('/messages', 'ya29.alice-calendar-only');
      expect(res.status).toBe(403);
      expect(await errorOf(res)).toEqual({
        code: 403,
        message: 'Request had insufficient authentication scopes.',
        status: 'PERMISSION_DENIED',
        errors: [{ domain: 'global', reason: 'insufficientPermissions', message: 'Request had insufficient authentication scopes.' }],
        details: [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' }],
      });
    });
  });

  describe('scripted failures', () => {
    it.each([
      [401, 'authError', 'UNAUTHENTICATED'],
      [403, 'insufficientPermissions', 'PERMISSION_DENIED'],
      [404, 'notFound', 'NOT_FOUND'],
      [429, 'userRateLimitExceeded', 'RESOURCE_EXHAUSTED'],
      [500, 'backendError', 'INTERNAL'],
    ])('failNext({status: %i}) answers once with reason %s, then serves normally', async (status, reason, rpc) => {
      gmail.failNext({ status });
      const res = await get('/messages');
      expect(res.status).toBe(status);
      const error = await errorOf(res);
      expect(error).toMatchObject({ code: status, status: rpc });
      expect(error.errors[0]!['reason']).toBe(reason);
      expect((await get('/messages')).status).toBe(200);
    });

    it('429 carries Retry-After', async () => {
      gmail.failNext({ status: 429, retryAfter: 3 });
      const res = await get('/messages');
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toBe('3');
    });

    it('a quota 403 is scripted with reason rateLimitExceeded (no scope details)', async () => {
      gmail.failNext({ status: 403, reason: 'rateLimitExceeded' });
      const error = await errorOf(await get('/messages'));
      expect(error.errors[0]).toMatchObject({ reason: 'rateLimitExceeded', domain: 'usageLimits' });
      expect(error.details).toBeUndefined();
    });

    it('matches failures by path and token', async () => {
      gmail.failNext({ status: 500, match: { token: BOB } });
      gmail.failNext({ status: 404, match: { path: /\/messages\/a2$/ } });
      expect((await get('/messages')).status).toBe(200);
      expect((await get('/messages/a1')).status).toBe(200);
      expect((await get('/messages/a2')).status).toBe(404);
      expect((await get('/messages', BOB)).status).toBe(500);
      expect((await get('/messages', BOB)).status).toBe(200);
    });

    it('failAlways holds until removed; failNext(…, times) counts down', async () => {
      const stop = gmail.failAlways({ status: 500 });
      expect((await get('/messages')).status).toBe(500);
      expect((await get('/messages')).status).toBe(500);
      stop();
      gmail.failNext({ status: 503 }, 2);
      expect((await get('/messages')).status).toBe(503);
      expect((await get('/messages')).status).toBe(503);
      expect((await get('/messages')).status).toBe(200);
    });

    it('answers slowly with delayMs', async () => {
      gmail.failNext({ delayMs: 300 });
      const started = Date.now();
      const res = await get('/messages');
      expect(res.status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(280);
    });

    it('a client abort during the delay leaves the double serving', async () => {
      gmail.failNext({ delayMs: 5_000 });
      await expect(get('/messages', ALICE, { signal: AbortSignal.timeout(100) })).rejects.toThrow();
      expect((await get('/messages')).status).toBe(200);
    });

    it('oversized: the normal body padded to the byte count, streamed, still valid JSON', async () => {
      gmail.failNext({ oversized: { bytes: 2_000_000 } });
      const res = await get('/messages');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-length')).toBeNull();
      const text = await res.text();
      expect(Buffer.byteLength(text)).toBe(2_000_000);
      expect((JSON.parse(text) as { messages: unknown[] }).messages).toHaveLength(9);

      gmail.failNext({ oversized: { bytes: 1_500_000, contentLength: true } });
      const declared = await get('/messages');
      expect(declared.headers.get('content-length')).toBe('1500000');
      expect((await declared.arrayBuffer()).byteLength).toBe(1_500_000);
    });

    it('malformedJson: JSON content type, body that does not parse', async () => {
      gmail.failNext({ malformedJson: true });
      const res = await get('/messages');
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toMatch(/^application\/json/);
      await expect(res.json()).rejects.toThrow();
    });

    it.each(['http://127.0.0.1:1/gmail/v1/users/me/messages', 'http://10.0.0.1/internal'])(
      'redirects to a private address (%s) without following it',
      async (location) => {
        gmail.failNext({ redirect: location });
        const res = await get('/messages');
        expect(res.status).toBe(302);
        expect(res.headers.get('location')).toBe(location);
      },
    );
  });

  it('reports how many requests it answered at once', async () => {
    gmail.resetConcurrency();
    const stop = gmail.failAlways({ delayMs: 150 });
    try {
      await Promise.all(['a1', 'a2', 'a-news-0'].map((id) => get(`/messages/${id}?format=metadata`)));
    } finally {
      stop();
    }
    expect(gmail.concurrency()).toEqual({ inFlight: 0, max: 3 });
  });

  it('records every request with path, query and token', async () => {
    await get('/messages/a1?format=metadata&metadataHeaders=From&metadataHeaders=Subject');
    const last = gmail.requests.at(-1)!;
    expect(last).toMatchObject({ method: 'GET', path: '/gmail/v1/users/me/messages/a1', token: ALICE });
    expect(last.query.getAll('metadataHeaders')).toEqual(['From', 'Subject']);
  });

  it('frees its port on close', async () => {
    const other = await startGmailDouble();
    await other.close();
    await expect(fetch(`${other.url}/gmail/v1/users/me/messages`)).rejects.toThrow();
  });
});
