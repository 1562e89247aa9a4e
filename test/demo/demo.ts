import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext } from 'playwright-core';
import { openOAuthSession, SignInRefusedError, type OAuthSession } from '../../apps/cli/src/index.js';
import { signInInBrowser, type Shots, type SignInStep } from '../src/harness/chromium.js';

/**
 * `pnpm demo`: each user authenticates with their own identity, and calls are scoped and audited
 * per user, shown for real. Alice and Bob sign in at the tenant's
 * built-in authorization server through the real flow — a headless chromium clicks the dev IdP's login
 * page and our consent page, the MCP SDK client (with the CLI's OAuth provider) receives the code on
 * its loopback redirect — then each calls `whoami` and `web_search`. Both start with `tools:whoami`
 * and `audit:read` (the demo shows the audit history at the end, so it asks for it up front, by
 * name), so `web_search` meets the 403 `insufficient_scope` step-up: alice allows it; bob first
 * denies it (his call stays refused), then allows it. Bob then asks for alice's call and gets 404.
 * Last, each user's history as the REST API shows it to that user, with that user's own token: the
 * calls this app made (`GET /t/{slug}/v1/tool-calls`) and their audit trail (`GET /t/{slug}/v1/audit-events`).
 */
export interface DemoOptions {
  mcpUrl: string;
  browser: Browser;
  out: (line: string) => void;
  shots?: Shots;
  /** Where the demo's token file goes (default: a fresh temporary directory, so every run signs in). */
  configDir?: string;
  query?: string;
}

interface CallRecord {
  id: string;
  tool: string;
}

export interface UserRun {
  account: string;
  userId: string;
  whoami: Record<string, unknown>;
  searchResults: number;
  stepUps: number;
  denied: boolean;
  calls: CallRecord[];
  restHistory: { id: string; tool: string; status: string }[];
  audit: AuditItem[];
}

/** An audit event as `GET /t/{slug}/v1/audit-events` shows it (apps/api/src/history/schemas.ts). */
export interface AuditItem {
  id: number;
  userId: string | null;
  callId: string | null;
  tool: string | null;
  action: string;
  decision: string;
  reason: string | null;
  at: string;
}

export interface DemoResult {
  users: UserRun[];
  crossUserStatus: number;
}

const CALL_META = 'io.mcprt/call';

function claims(token: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString()) as Record<string, unknown>;
}

export async function runDemo(o: DemoOptions): Promise<DemoResult> {
  const { out } = o;
  const url = new URL(o.mcpUrl);
  const slug = /^\/t\/([^/]+)\/mcp$/.exec(url.pathname)?.[1];
  if (!slug) throw new Error(`not a tenant MCP URL: ${o.mcpUrl}`);
  const configDir = o.configDir ?? mkdtempSync(join(tmpdir(), 'mcprt-demo-'));
  const query = o.query ?? 'end-user oauth for mcp agents';
  const pad = (s: string, n: number) => (s.length >= n ? s : s + ' '.repeat(n - s.length));
  const say = (who: string, what: string, text: string) => out(`  ${pad(who, 6)} ${pad(what, 11)} ${text}`);

  out(`mcprt demo: tenant "${slug}" at ${url.href}`);
  out(`tokens of this run: ${join(configDir, 'oauth-tokens.json')}`);
  out('');

  const runs: UserRun[] = [];
  const sessions = new Map<string, OAuthSession>();
  for (const [account, plan] of [
    ['alice', ['allow']],
    ['bob', ['deny', 'allow']],
  ] as const) {
    const context: BrowserContext = await o.browser.newContext();
    const consents = [...plan];
    // The server's answers, as the SDK client sees them: the 401 and 403 challenges.
    let lastChallenge = '';
    const watch: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if (res.status === 401 || res.status === 403) lastChallenge = `${res.status} ${res.headers.get('www-authenticate') ?? ''}`;
      return res;
    };
    let first = true;
    const describeSteps = (steps: SignInStep[]) =>
      steps.map((s) => (s === 'idp-login' ? `dev IdP login (${account})` : s === 'consent' ? 'consent' : 'back at the client')).join(' → ');
    const session: OAuthSession = await openOAuthSession({
      url,
      user: account,
      configDir,
      clientName: 'mcprt-demo',
      versionNegotiation: { mode: 'auto' },
      scope: 'tools:whoami audit:read',
      fetch: watch,
      timeoutMs: 60_000,
      onAuthorizationUrl: async (authUrl) => {
        const scope = authUrl.searchParams.get('scope') ?? '';
        const consent = first ? 'allow' : (consents.shift() ?? 'allow');
        if (first) say(account, 'sign-in', `chromium opens ${authUrl.origin}${authUrl.pathname} asking for [${scope}]`);
        else
          say(
            account,
            'step-up',
            `server answered ${lastChallenge.split(' ')[0]} insufficient_scope; chromium asks for [${scope}], ${account} clicks ${consent}`,
          );
        const { steps, page } = await signInInBrowser(context, authUrl, {
          account,
          consent,
          stopAt: authUrl.searchParams.get('redirect_uri') ?? '',
          ...(o.shots ? { shots: o.shots } : {}),
          label: `${account}-${first ? 'sign-in' : 'step-up'}`,
        });
        await page.close();
        say(account, '', describeSteps(steps));
        first = false;
      },
    });
    const token = session.accessToken()!;
    const userId = String(claims(token).sub);
    say(account, 'signed in', `MCP user ${userId}; token scope [${String(claims(token).scope ?? '')}], aud ${String(claims(token).aud)}`);

    const calls: CallRecord[] = [];
    const record = (tool: string, result: { _meta?: Record<string, unknown> }) => {
      const meta = result._meta?.[CALL_META] as { id?: string } | undefined;
      if (meta?.id) calls.push({ id: meta.id, tool });
    };
    const who = await session.run((c) => c.callTool({ name: 'whoami', arguments: {} }));
    record('whoami', who);
    if (who.isError) throw new Error(`whoami failed for ${account}: ${JSON.stringify(who.content)}`);
    const whoami = who.structuredContent as Record<string, unknown>;
    say(account, 'whoami', `subject=${String(whoami.subject)} email=${String(whoami.email)} (asked of the IdP with ${account}'s own upstream token)`);

    let denied = false;
    let searchResults = -1;
    for (let attempt = 0; attempt < 2 && searchResults < 0; attempt++) {
      try {
        const res = await session.run((c) => c.callTool({ name: 'web_search', arguments: { query } }));
        record('web_search', res);
        if (res.isError) throw new Error(`web_search failed for ${account}: ${JSON.stringify(res.content)}`);
        const results = ((res.structuredContent as { results?: { title: string; link: string }[] } | undefined)?.results ?? []) as {
          title: string;
          link: string;
        }[];
        searchResults = results.length;
        say(account, 'web_search', `"${query}" → ${results.length} results`);
        for (const [i, r] of results.slice(0, 3).entries()) say('', '', `${i + 1}. ${r.title}  ${r.link}`);
      } catch (e) {
        if (!(e instanceof SignInRefusedError)) throw e;
        denied = true;
        say(
          account,
          'DENIED',
          `${account} refused the wider consent (${e.code}): web_search stays refused, the token keeps [${String(claims(session.accessToken()!).scope ?? '')}]`,
        );
      }
    }
    const finalToken = session.accessToken()!;
    say(account, 'token now', `scope [${String(claims(finalToken).scope ?? '')}]`);
    runs.push({ account, userId, whoami, searchResults, stepUps: session.authorizations - 1, denied, calls, restHistory: [], audit: [] });
    sessions.set(account, session);
    await context.close();
    out('');
  }

  // Isolation: bob asks for alice's call by its id. Another user's call is answered like a missing one.
  const [alice, bob] = runs as [UserRun, UserRun];
  const tokenOf = (r: UserRun) => sessions.get(r.account)!.accessToken();
  const pollUrl = (id: string) => `${url.origin}/t/${slug}/v1/tool-calls/${id}`;
  const cross = await fetch(pollUrl(alice.calls[0]!.id), { headers: { authorization: `Bearer ${tokenOf(bob)}` } });
  const crossBody = (await cross.json().catch(() => ({}))) as { error?: string };
  say('bob', 'isolation', `GET alice's call ${alice.calls[0]!.id} with bob's token → ${cross.status} ${crossBody.error ?? ''} (as if it did not exist)`);
  out('');

  // History: what each user sees of their own calls and audit trail (REST, with their own token).
  const v1 = `${url.origin}/t/${slug}/v1`;
  for (const run of [alice, bob]) {
    out(`${run.account}: history`);
    const auth = { headers: { authorization: `Bearer ${tokenOf(run)}` } };
    const calls = await fetch(`${v1}/tool-calls?limit=50`, auth);
    if (!calls.ok) throw new Error(`GET ${v1}/tool-calls → ${calls.status}`);
    const mine = new Set(run.calls.map((c) => c.id));
    const page = (await calls.json()) as { items: { id: string; tool: string; status: string; createdAt: string }[] };
    // This run's calls (earlier runs of the demo show up in the list too).
    for (const view of page.items.filter((c) => mine.has(c.id)).reverse()) {
      run.restHistory.push({ id: view.id, tool: view.tool, status: view.status });
      say('', 'call', `${view.id}  ${pad(view.tool, 10)} ${pad(view.status, 9)} ${view.createdAt}  (GET ${calls.status}, as ${run.account})`);
    }
    const audit = await fetch(`${v1}/audit-events?limit=50`, auth);
    if (!audit.ok) throw new Error(`GET ${v1}/audit-events → ${audit.status}`);
    run.audit = ((await audit.json()) as { items: AuditItem[] }).items.reverse();
    for (const a of run.audit) {
      say('', 'audit', `${a.at}  ${pad(a.action, 20)} ${pad(a.decision, 5)} ${pad(a.tool ?? '', 10)} ${a.callId ?? ''}${a.reason ? `  ${a.reason}` : ''}`);
    }
    out('');
    await sessions.get(run.account)!.close();
  }

  out('summary');
  for (const r of runs) {
    out(
      `  ${pad(r.account, 6)} whoami=${String(r.whoami.subject)}  web_search=${r.searchResults >= 0 ? `${r.searchResults} results` : 'refused'}  step-ups=${r.stepUps}  denied=${r.denied ? 'yes' : 'no'}  calls=${r.calls.length}  audit rows=${r.audit.length}`,
    );
  }
  out(`  bob reading alice's call: ${cross.status}`);
  return { users: runs, crossUserStatus: cross.status };
}
