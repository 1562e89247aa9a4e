import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildJobPayload, forTenant, TOOL_CALLS_QUEUE, type ToolCall } from '@mcprt/calls';
import { openOAuthSession } from '@mcprt/cli';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { z } from 'zod';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchChromium, shot, signInInBrowser, type Shots } from './harness/chromium.js';
import { runCli } from './harness/cli-process.js';
import { startStack, type Stack } from './harness/stack.js';
import { sleep, waitFor } from './harness/wait-for.js';

/**
 * Approval before a sensitive call runs, end to end: the tenant's rules hold echo calls with
 * message "needs-approval" for the user themself and "needs-tenant" for a tenant approver. Such a
 * call is recorded `awaiting_approval` and never enqueued; the user approves or denies it on the
 * approval page in a real browser (chromium, their authorization-server session), a tenant approver
 * by the API with a `calls:approve` key; the decision binds to the hash of the exact arguments shown,
 * expires, is audited with the approver, and a denied or expired call never reaches a worker.
 */
const APPROVAL = 'io.mcprt/approval';
const rules = [
  { tool: 'echo', approver: 'user' as const, when: { argument: 'message', equals: 'needs-approval' } },
  { tool: 'echo', approver: 'tenant' as const, when: { argument: 'message', equals: 'needs-tenant' } },
];
const shots: Shots = { dir: artifactsDir('approvals'), files: [] };

let s: Stack;
let other: Stack;
let browser: Browser;
let queue: Queue;
let redis: Redis;

beforeAll(async () => {
  browser = await launchChromium();
  [s, other] = await Promise.all([
    startStack({ label: 'approvals', enabledTools: ['whoami', 'echo'], approvalRules: rules, env: { APPROVAL_SWEEP_MS: '200', ENABLE_TEST_TOOLS: 'true' } }),
    startStack({ label: 'approvals-b', enabledTools: ['echo'], env: { ENABLE_TEST_TOOLS: 'true' } }),
  ]);
  redis = new Redis(s.config.REDIS_URL, { maxRetriesPerRequest: null });
  queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: s.config.QUEUE_PREFIX });
}, 90_000);
afterAll(async () => {
  await queue?.close();
  await redis?.quit();
  await browser?.close();
  await Promise.allSettled([s?.close(), other?.close()]);
  console.log(`approvals screenshots (${shots.files.length}): ${shots.dir}`);
});

const row = async (id: string) => (await forTenant(s.db.db, s.tenant.id).toolCalls.byId(id)) as ToolCall;
const auditOf = async (id: string) =>
  (await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${s.tenant.id} and call_id = ${id} order by id`).map(
    (r) => `${r.action as string}:${r.decision as string}${r.reason ? `:${r.reason as string}` : ''}`,
  );
type Answer = { content: { text: string }[]; structuredContent?: Record<string, unknown>; _meta?: Record<string, unknown> };
const callMeta = (a: Answer) => a._meta?.['io.mcprt/call'] as { id: string; status: string };

/** A user signed in at the tenant's authorization server in this browser context, with an SDK client on their tokens. */
async function signedInUser(context: BrowserContext, user: string) {
  const configDir = mkdtempSync(join(tmpdir(), 'mcprt-approvals-'));
  return openOAuthSession({
    url: new URL(s.mcpUrl),
    user,
    configDir,
    clientName: `approvals-${user}`,
    versionNegotiation: { mode: 'auto' },
    timeoutMs: 60_000,
    onAuthorizationUrl: async (url) => {
      const { page } = await signInInBrowser(context, url, { account: user, stopAt: url.searchParams.get('redirect_uri')!, shots, label: user });
      await page.close();
    },
  });
}

describe('approval by the user themself, in a real browser', () => {
  it('held, shown exactly, approved by the signed-in user, then run; the app itself cannot approve; another user sees nothing', async () => {
    const alice = await browser.newContext();
    const session = await signedInUser(alice, 'alice');
    try {
      const plain = (await session.run((c) => c.callTool({ name: 'echo', arguments: { message: 'hello' } }))) as Answer;
      expect(callMeta(plain).status).toBe('succeeded');

      const held = (await session.run((c) => c.callTool({ name: 'echo', arguments: { message: 'needs-approval' } }))) as Answer;
      const { id } = callMeta(held);
      const approval = held._meta?.[APPROVAL] as { url: string; approver: string };
      expect(callMeta(held).status).toBe('awaiting_approval');
      expect(approval).toMatchObject({ url: `${s.issuer}/approvals/${id}`, approver: 'user' });
      expect(held.content[0]!.text).toContain(approval.url);
      // Recorded, never enqueued: no job, and the worker has not seen it.
      await sleep(300);
      expect(await queue.getJob(id)).toBeUndefined();
      expect((await row(id)).status).toBe('awaiting_approval');

      // The app holds the link but not the user's browser session: it can neither read nor decide.
      const token = await s.token('alice');
      const asApp = await fetch(approval.url, { headers: { authorization: `Bearer ${token}` } });
      expect(asApp.status).toBe(403);
      const post = await fetch(approval.url, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ csrf: 'x', argsHash: (await row(id)).argsHash!, decision: 'approve' }).toString(),
      });
      expect(post.status).toBe(403);
      expect((await row(id)).status).toBe('awaiting_approval');

      // Another signed-in user of the tenant opening alice's link: no such call.
      const bobContext = await browser.newContext();
      const bob = await signedInUser(bobContext, 'bob');
      await bob.close();
      const bobPage = await bobContext.newPage();
      expect((await bobPage.goto(approval.url))?.status()).toBe(404);
      await shot(bobPage, shots, 'bob-opens-alices-approval');
      await bobContext.close();

      // Alice's browser: the page shows exactly what will run, then she approves.
      const page = await alice.newPage();
      const res = await page.goto(approval.url);
      expect(res?.status()).toBe(200);
      expect(res?.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(await page.locator('main').innerText()).toContain('needs-approval');
      await shot(page, shots, 'approval-page');
      await Promise.all([page.waitForURL(approval.url), page.locator('button', { hasText: 'Approve' }).click()]);
      await shot(page, shots, 'approved');
      expect(await page.locator('[data-state]').innerText()).toMatch(/Approved/);

      const result = await waitFor('approved call ran', async () => ((await row(id)).status === 'succeeded' ? row(id) : undefined));
      expect(result.result).toMatchObject({ message: 'needs-approval', ranAs: 'alice' });
      const users = await s.db.sql`select id from users where tenant_id = ${s.tenant.id} and subject = 'alice'`;
      expect(await auditOf(id)).toEqual([
        'tool_call.approval_requested:info',
        `tool_call.approved:allow:user:${users[0]!.id as string}`,
        'tool_call.succeeded:allow',
      ]);
    } finally {
      await session.close();
      await alice.close();
    }
  });

  it('denied on the page: failed approval_denied, never run; arguments tampered in the form change nothing', async () => {
    const alice = await browser.newContext();
    const session = await signedInUser(alice, 'alice');
    try {
      const held = (await session.run((c) => c.callTool({ name: 'echo', arguments: { message: 'needs-approval' } }))) as Answer;
      const { id } = callMeta(held);
      const page = await alice.newPage();
      await page.goto((held._meta?.[APPROVAL] as { url: string }).url);
      // Form tampering: a hash of other arguments is refused, and the call still waits.
      await page.locator('input[name=argsHash]').evaluate((el: { value: string }) => {
        el.value = 'v1.0000';
      });
      const refused = page.waitForResponse((r) => r.request().method() === 'POST');
      await page.locator('button', { hasText: 'Approve' }).click();
      expect((await refused).status()).toBe(409);
      expect((await row(id)).status).toBe('awaiting_approval');

      await page.goto((held._meta?.[APPROVAL] as { url: string }).url);
      await Promise.all([page.waitForLoadState('load'), page.locator('button', { hasText: 'Deny' }).click()]);
      await page.waitForSelector('[data-state]');
      await shot(page, shots, 'denied');
      const denied = await row(id);
      expect(denied.status).toBe('failed');
      expect(denied.error?.code).toBe('approval_denied');
      expect(denied.attempt).toBe(0);
      expect(denied.startedAt).toBeNull();
      expect(await queue.getJob(id)).toBeUndefined();
      const answer = (await session.run((c) => c.callTool({ name: 'tool_call_result', arguments: { callId: id } }))) as Answer & { isError?: boolean };
      expect(answer.isError).toBe(true);
      expect(answer.content[0]!.text).toMatch(/denied/);
    } finally {
      await session.close();
      await alice.close();
    }
  });
});

describe('approval by a tenant approver (API key with calls:approve)', () => {
  const held = async (message: string) => {
    const client = await s.client(await s.token('carol'));
    const a = (await client.callTool({ name: 'echo', arguments: { message } })) as Answer;
    return callMeta(a).id;
  };
  const decide = (key: string, id: string, body: unknown, base = s) =>
    fetch(`${base.issuer}/v1/admin/tool-calls/${id}/approval`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  let approver: string;
  let reader: string;

  beforeAll(async () => {
    const a = await runCli(['tenant', 'api-key', 'create', '--slug', s.tenant.slug, '--scopes', 'calls:read,calls:approve'], s.env);
    const r = await runCli(['tenant', 'api-key', 'create', '--slug', s.tenant.slug, '--scopes', 'calls:read'], s.env);
    expect([a.code, r.code]).toEqual([0, 0]);
    approver = a.stdout.trim();
    reader = r.stdout.trim();
  }, 60_000);

  it('lists waiting calls with the hash to decide on; approval needs calls:approve and the exact hash; 8 at once approve once', async () => {
    const id = await held('needs-tenant');
    const list = await fetch(`${s.issuer}/v1/admin/tool-calls?status=awaiting_approval`, { headers: { authorization: `Bearer ${reader}` } });
    expect(list.status).toBe(200);
    const item = ((await list.json()) as { items: { id: string; approval?: { approver: string; argsHash: string } }[] }).items.find((c) => c.id === id)!;
    expect(item.approval).toMatchObject({ approver: 'tenant' });

    expect((await decide(reader, id, { decision: 'approve', argsHash: item.approval!.argsHash })).status).toBe(403);
    expect((await decide(approver, id, { decision: 'approve', argsHash: 'v1.nope' })).status).toBe(409);
    expect((await decide(approver, id, { decision: 'maybe', argsHash: item.approval!.argsHash })).status).toBe(400);
    // The user's own page does not decide a tenant rule's call (and a user cannot approve it).
    expect((await row(id)).status).toBe('awaiting_approval');

    const answers = await Promise.all(Array.from({ length: 8 }, () => decide(approver, id, { decision: 'approve', argsHash: item.approval!.argsHash })));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 404, 404, 404, 404, 404, 404, 404]);
    await waitFor('approved call ran', async () => ((await row(id)).status === 'succeeded' ? true : undefined));
    const approvals = (await auditOf(id)).filter((a) => a.startsWith('tool_call.approved'));
    expect(approvals).toHaveLength(1);
    expect(approvals[0]).toMatch(/^tool_call\.approved:allow:api_key:/);
  });

  it("another tenant's approver key cannot decide this tenant's call", async () => {
    const id = await held('needs-tenant');
    const b = await runCli(['tenant', 'api-key', 'create', '--slug', other.tenant.slug, '--scopes', 'calls:approve'], other.env);
    const hash = (await row(id)).argsHash!;
    const res = await decide(b.stdout.trim(), id, { decision: 'approve', argsHash: hash });
    expect([401, 404]).toContain(res.status);
    // Sent to the other tenant's own endpoint, the call id is not one of its calls.
    expect((await decide(b.stdout.trim(), id, { decision: 'approve', argsHash: hash }, other)).status).toBe(404);
    expect((await row(id)).status).toBe('awaiting_approval');
  }, 60_000);

  it('expires: failed approval_expired by the sweep, never run, and can no longer be approved', async () => {
    const id = await held('needs-tenant');
    await s.db.sql`update tool_calls set approval_expires_at = now() - interval '1 second' where tenant_id = ${s.tenant.id} and id = ${id}`;
    const expired = await waitFor('expired', async () => {
      const r = await row(id);
      return r.status === 'failed' ? r : undefined;
    });
    expect(expired.error?.code).toBe('approval_expired');
    expect(expired.startedAt).toBeNull();
    expect(await auditOf(id)).toEqual(['tool_call.approval_requested:info', 'tool_call.approval_expired:deny:approval_expired']);
    expect((await decide(approver, id, { decision: 'approve', argsHash: expired.argsHash! })).status).toBe(404);
  });

  it('a forged job for a call awaiting approval is never run by a worker', async () => {
    const id = await held('needs-tenant');
    const call = await row(id);
    await queue.add('echo', buildJobPayload(call, null), { jobId: id });
    await sleep(1500);
    const after = await row(id);
    expect(after.status).toBe('awaiting_approval');
    expect(after.startedAt).toBeNull();
    expect(after.attempt).toBe(0);
  });
});

describe('the tasks extension (2026-07-28): a call held for its user is input_required', () => {
  it('the task carries a URL elicitation of the approval page; declining it in the client denies the call', async () => {
    const raw = new Map<number | string, Record<string, unknown>>();
    const recording: typeof fetch = async (input, init) => {
      const res = await fetch(input, init);
      if ((res.headers.get('content-type') ?? '').startsWith('application/json')) {
        const m = JSON.parse(await res.clone().text()) as { id?: number | string; result?: Record<string, unknown> };
        if (m.id !== undefined && m.result) raw.set(m.id, m.result);
      }
      return res;
    };
    const TASKS = 'io.modelcontextprotocol/tasks';
    const client = new Client(
      { name: 'approvals-tasks', version: '1.0.0' },
      { versionNegotiation: { mode: 'auto' }, capabilities: { extensions: { [TASKS]: {} } } },
    );
    await client.connect(
      new StreamableHTTPClientTransport(new URL(s.mcpUrl), {
        requestInit: { headers: { Authorization: `Bearer ${await s.token('dave')}` } },
        fetch: recording,
      }),
    );
    try {
      const before = new Set(raw.keys());
      await expect(client.callTool({ name: 'echo', arguments: { message: 'needs-approval' } })).rejects.toThrow(/Unsupported result type 'task'/);
      const task = raw.get([...raw.keys()].find((k) => !before.has(k))!)! as {
        taskId: string;
        status: string;
        inputRequests: Record<string, { method: string; params: { mode: string; url: string } }>;
      };
      expect(task.status).toBe('input_required');
      expect(task.inputRequests.approval).toMatchObject({ method: 'elicitation/create', params: { mode: 'url', url: `${s.issuer}/approvals/${task.taskId}` } });
      const taskSchema = z.looseObject({ status: z.string() });
      expect((await client.request({ method: 'tasks/get', params: { taskId: task.taskId } }, taskSchema)).status).toBe('input_required');

      await client.request({ method: 'tasks/update', params: { taskId: task.taskId, inputResponses: { approval: { action: 'decline' } } } }, z.looseObject({}));
      const denied = await row(task.taskId);
      expect(denied.status).toBe('failed');
      expect(denied.error?.code).toBe('approval_denied');
      expect((await client.request({ method: 'tasks/get', params: { taskId: task.taskId } }, taskSchema)).status).toBe('completed');
    } finally {
      await client.close();
    }
  });
});
