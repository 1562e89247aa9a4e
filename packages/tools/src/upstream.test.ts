import { describe, expect, it } from 'vitest';
import { capUtf8, htmlToText } from './html-text.js';
import { reconnectUrl } from './reconnect.js';
import { mapBounded, upstreamFailure } from './upstream.js';

const base = {
  toolScopes: ['https://www.googleapis.com/auth/gmail.readonly'],
  upgradeUrl: (scopes: readonly string[]) => reconnectUrl('https://rt.example', 'acme', 'google', scopes),
  notFound: 'no such message',
};
const google = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  upstreamFailure({ ...base, api: 'gmail', service: 'Gmail', provider: 'google', status, body, headers: new Headers(headers) });
const github = (status: number, body: unknown, headers: Record<string, string> = {}) =>
  upstreamFailure({
    ...base,
    toolScopes: ['repo'],
    upgradeUrl: (scopes: readonly string[]) => reconnectUrl('https://rt.example', 'acme', 'github', scopes),
    api: 'github',
    service: 'GitHub',
    provider: 'github',
    status,
    body,
    headers: new Headers(headers),
  });
const gErr = (reason: string, extra: Record<string, unknown> = {}) => ({
  error: { code: 403, message: 'm', errors: [{ reason, domain: 'global' }], ...extra },
});

describe('upstreamFailure: the one failure table', () => {
  it('401 → upstream_unauthorized (the worker refreshes once, then reauth_required)', () => {
    expect(google(401, gErr('authError'))).toMatchObject({ code: 'upstream_unauthorized', retryable: false });
    expect(github(401, { message: 'Bad credentials' })).toMatchObject({ code: 'upstream_unauthorized' });
  });

  it('Google 403 insufficientPermissions → upstream_scope_missing with the upgrade link of the tool scopes', () => {
    const e = google(403, gErr('insufficientPermissions'));
    const url = 'https://rt.example/t/acme/connect/google?scopes=https%3A%2F%2Fwww.googleapis.com%2Fauth%2Fgmail.readonly';
    expect(e).toMatchObject({ kind: 'policy', code: 'upstream_scope_missing', retryable: false, details: { upgradeUrl: url, provider: 'google' } });
    expect(e.message).toContain(url);
  });

  it('Google rate-limit 403 and 429 → upstream_rate_limited with Retry-After; dailyLimitExceeded is not a short wait', () => {
    expect(google(403, gErr('userRateLimitExceeded'), { 'retry-after': '7' })).toMatchObject({
      code: 'upstream_rate_limited',
      details: { retryAfterMs: 7000 },
    });
    expect(google(429, gErr('rateLimitExceeded'))).toMatchObject({ code: 'upstream_rate_limited', retryable: true });
    expect(google(403, gErr('dailyLimitExceeded'))).toMatchObject({ code: 'upstream_forbidden' });
  });

  it('GitHub 403: rate limit by header or wording, missing scope by X-Accepted-OAuth-Scopes, else forbidden', () => {
    const reset = String(Math.floor(Date.now() / 1000) + 30);
    const limited = github(403, { message: 'API rate limit exceeded for user ID 1.' }, { 'x-ratelimit-remaining': '0', 'x-ratelimit-reset': reset });
    expect(limited).toMatchObject({ code: 'upstream_rate_limited' });
    expect(limited.details?.retryAfterMs).toBeGreaterThan(25_000);
    expect(github(403, { message: 'You have exceeded a secondary rate limit' })).toMatchObject({ code: 'upstream_rate_limited' });
    expect(github(403, { message: 'x' }, { 'x-accepted-oauth-scopes': 'repo', 'x-oauth-scopes': 'read:user' })).toMatchObject({
      code: 'upstream_scope_missing',
      details: { upgradeUrl: 'https://rt.example/t/acme/connect/github?scopes=repo', scopes: ['repo'] },
    });
    expect(github(403, { message: 'SSO required' }, { 'x-accepted-oauth-scopes': 'repo', 'x-oauth-scopes': 'repo, read:user' })).toMatchObject({
      code: 'upstream_forbidden',
      message: 'GitHub refused access (403): SSO required',
    });
  });

  it("404 → the tool's wording; 5xx → retryable; 422 → the validation messages", () => {
    expect(google(404, gErr('notFound'))).toMatchObject({ code: 'upstream_not_found', message: 'Gmail: no such message (404)', retryable: false });
    expect(github(503, undefined)).toMatchObject({ code: 'upstream_error', retryable: true });
    expect(github(422, { message: 'Validation Failed', errors: [{ code: 'invalid', field: 'q', message: 'cannot search' }] })).toMatchObject({
      code: 'upstream_rejected',
      message: 'GitHub rejected the request (422): cannot search',
    });
  });

  it('upstream messages reach the user bounded to one short line', () => {
    const e = google(400, { error: { message: `a\n${'x'.repeat(500)}`, errors: [{ reason: 'badRequest' }] } });
    expect(e.message.length).toBeLessThan(260);
    expect(e.message).not.toContain('\n');
  });
});

describe('mapBounded', () => {
  it('keeps at most `limit` in flight, keeps order, stops on abort', async () => {
    let inFlight = 0;
    let max = 0;
    const out = await mapBounded([1, 2, 3, 4, 5, 6, 7], 3, new AbortController().signal, async (n) => {
      inFlight++;
      max = Math.max(max, inFlight);
      await new Promise((r) => setTimeout(r, 10));
      inFlight--;
      return n * 2;
    });
    expect(out).toEqual([2, 4, 6, 8, 10, 12, 14]);
    expect(max).toBe(3);
    const ac = new AbortController();
    let started = 0;
    const p = mapBounded([1, 2, 3, 4, 5, 6], 2, ac.signal, async () => {
      started++;
      ac.abort();
      await new Promise((r) => setTimeout(r, 5));
    });
    await expect(p).rejects.toMatchObject({ code: 'cancelled' });
    expect(started).toBe(1); // the other worker saw the abort before starting
  });
});

describe('htmlToText / capUtf8', () => {
  it('drops scripts and styles, keeps links and line structure, decodes entities', () => {
    expect(
      htmlToText(
        '<style>x{}</style><p>Hi&nbsp;<b>there</b> &lt;you&gt; &#x1F600;</p><ul><li>one</li><li>two</li></ul><script>evil()</script><a href="https://e.x/y">link</a>',
      ),
    ).toBe('Hi there <you> 😀\n\n- one\n- two\nlink (https://e.x/y)');
  });
  it('keeps mail layout readable: table cells on one line, headings as written, no images, mailto links as their text', () => {
    expect(
      htmlToText(
        '<table><tr><td>Total</td><td>12 €</td></tr><tr><td>Due</td><td>Friday</td></tr></table><h1>Receipt</h1><img src="https://t.example/pixel.gif" alt="track"><a href="mailto:billing@example.test">write to us</a>, <a href="https://e.x">https://e.x</a><!-- hidden -->',
      ),
    ).toBe('Total 12 €\nDue Friday\n\nReceipt\n\nwrite to us, https://e.x');
  });
  it('cuts at a character boundary', () => {
    expect(capUtf8('ééé', 5)).toEqual({ text: 'éé', truncated: true });
    expect(capUtf8('abc', 5)).toEqual({ text: 'abc', truncated: false });
  });
});

describe('reconnectUrl', () => {
  it('without scopes: the reconnect link; with scopes: the upgrade link (space-separated, URL-encoded)', () => {
    expect(reconnectUrl('https://rt.example', 'a b', 'google')).toBe('https://rt.example/t/a%20b/connect/google');
    expect(reconnectUrl('https://rt.example', 'acme', 'google', ['openid', 'https://x/y'])).toBe(
      'https://rt.example/t/acme/connect/google?scopes=openid%20https%3A%2F%2Fx%2Fy',
    );
  });
});
