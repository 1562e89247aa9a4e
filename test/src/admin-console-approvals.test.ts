import { randomBytes } from 'node:crypto';
import { forTenant } from '@mcprt/calls';
import type { User } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { createKey, Operator } from './harness/operator.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * The admin console's approvals page over plain HTTP: the calls a `tenant` approval rule holds,
 * decided through the approvers' own function (`decideCallApproval`), and the attacks — tenant B's
 * call by URL and by form, a user's own approval, a call decided already or past its deadline, a
 * tampered hash, eight concurrent approvals, a form without its CSRF token, a key without
 * `calls:approve`. Real API, Postgres and Redis (no worker: an approved call waits in the queue).
 */
type B = Awaited<ReturnType<typeof startBuiltinTenant>>;
let s: Stack;
let b: B;
let keyA: { id: string; key: string };
let keyB: { id: string; key: string };
let listOnly: { id: string; key: string };
let alice: User;
let aliceB: User;
let op: Operator;

interface Waiting {
  id: string;
  hash: string;
}

/** A call held for approval, as submit records it (status, approver, deadline, the hash of its arguments). */
async function waitingCall(
  tenantId: string,
  userId: string,
  o: { approver?: 'tenant' | 'user'; expiresInS?: number; args?: Record<string, unknown> } = {},
): Promise<Waiting> {
  const id = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
  const hash = `h${randomBytes(16).toString('hex')}`;
  await s.db.sql`insert into tool_calls (id, tenant_id, user_id, client_id, tool, arguments, status, approver, args_hash, approval_expires_at)
    values (${id}, ${tenantId}, ${userId}, 'app-1', 'echo', ${JSON.stringify(o.args ?? { message: 'needs-tenant' })}::jsonb, 'awaiting_approval',
      ${o.approver ?? 'tenant'}, ${hash}, now() + make_interval(secs => ${o.expiresInS ?? 900}))`;
  return { id, hash };
}
const statusOf = async (id: string) =>
  (await s.db.sql`select status, error from tool_calls where id = ${id}`)[0] as { status: string; error: { code: string } | null };
const decisions = async (id: string) =>
  (await s.db.sql`select action, reason from audit_events where call_id = ${id} and action in ('tool_call.approved', 'tool_call.denied') order by id`).map(
    (r) => `${r.action as string}:${r.reason as string}`,
  );
const decide = (o: Operator, w: Waiting, decision = 'approve', csrf?: string | null) =>
  o.post(`/approvals/${w.id}`, { decision, argsHash: w.hash }, csrf === undefined ? {} : { csrf });
const errorOf = async (res: Response) => /data-error="([^"]+)"/.exec(await res.text())?.[1];

async function signedIn(slug: string, key: string): Promise<Operator> {
  const o = new Operator(s.config.PUBLIC_URL, slug);
  expect((await o.signIn(key)).status).toBe(303);
  await o.page('/approvals');
  return o;
}

beforeAll(async () => {
  s = await startStack({ label: 'console-approvals', worker: 'none' });
  b = await startBuiltinTenant(s, 'b', ['echo']);
  keyA = await createKey(s.db.db, s.tenant.id, ['admin', 'calls:approve']);
  keyB = await createKey(s.db.db, b.tenant.id, ['admin', 'calls:approve']);
  listOnly = await createKey(s.db.db, s.tenant.id, ['admin']);
  alice = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: 'alice', email: 'alice@example.test', displayName: 'Alice A' });
  aliceB = await forTenant(s.db.db, b.tenant.id).users.upsert({ issuer: b.idp.issuer, subject: 'alice' });
  op = await signedIn(s.slug, keyA.key);
}, 120_000);
afterAll(() => s?.close());

describe('the approvals page', () => {
  it('lists only this tenant’s calls waiting for a tenant approver, arguments escaped, with whose and until when', async () => {
    const mine = await waitingCall(s.tenant.id, alice.id, { args: { message: '<script>alert(1)</script>', note: '"quoted" & <b>' } });
    const users = await waitingCall(s.tenant.id, alice.id, { approver: 'user' });
    const late = await waitingCall(s.tenant.id, alice.id, { expiresInS: -5 });
    const other = await waitingCall(b.tenant.id, aliceB.id);
    const html = await op.page('/approvals');
    expect(html).toContain(`data-call="${mine.id}"`);
    expect(html).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(html).not.toContain('<script>alert(1)');
    expect(html).toContain('\\&quot;quoted\\&quot; &amp; &lt;b&gt;');
    expect(html).toContain('alice@example.test');
    expect(html).toContain(alice.id);
    expect(html).toContain(`value="${mine.hash}"`);
    for (const absent of [users, late, other]) expect(html).not.toContain(absent.id);
    expect(html).toContain('href="/t/' + s.slug + '/admin/approvals" class="here"');
  });

  it('approve and deny go through decideCallApproval, audited with the operator’s key', async () => {
    const yes = await waitingCall(s.tenant.id, alice.id);
    const no = await waitingCall(s.tenant.id, alice.id);
    await op.page('/approvals');
    const r1 = await decide(op, yes, 'approve');
    expect(r1.status).toBe(303);
    expect(r1.headers.get('location')).toBe(`/t/${s.slug}/admin/approvals?done=${encodeURIComponent(`Call ${yes.id} approved.`)}`);
    expect((await statusOf(yes.id)).status).toBe('queued');
    expect(await decisions(yes.id)).toEqual([`tool_call.approved:api_key:${keyA.id}`]);
    expect((await decide(op, no, 'deny')).status).toBe(303);
    expect(await statusOf(no.id)).toMatchObject({ status: 'failed', error: { code: 'approval_denied' } });
    expect(await decisions(no.id)).toEqual([`tool_call.denied:api_key:${keyA.id}`]);
    const html = await op.page('/approvals');
    expect(html).not.toContain(`data-call="${yes.id}"`);
    expect(html).not.toContain(`data-call="${no.id}"`);
  });

  it('tenant B’s call is not found by URL or form, from A’s console; B’s own operator decides it', async () => {
    const other = await waitingCall(b.tenant.id, aliceB.id);
    const r = await decide(op, other);
    expect(r.status).toBe(404);
    expect(await errorOf(r)).toBe('call_not_found');
    // A's session cookie is not sent to B's console path, and B's form is refused without B's session.
    const intruder = new Operator(s.config.PUBLIC_URL, b.slug);
    const cross = await intruder.post(
      `/approvals/${other.id}`,
      { decision: 'approve', argsHash: other.hash },
      { csrf: op.csrf!, headers: { cookie: op.jar.header(op.url('/approvals')) } },
    );
    expect(cross.status).toBe(401);
    expect((await statusOf(other.id)).status).toBe('awaiting_approval');
    const opB = await signedIn(b.slug, keyB.key);
    expect((await decide(opB, other)).status).toBe(303);
    expect(await decisions(other.id)).toEqual([`tool_call.approved:api_key:${keyB.id}`]);
  });

  it('a user’s own approval, a decided call, a late call and a tampered hash change nothing', async () => {
    const users = await waitingCall(s.tenant.id, alice.id, { approver: 'user' });
    expect((await decide(op, users)).status).toBe(404);
    expect((await statusOf(users.id)).status).toBe('awaiting_approval');

    const once = await waitingCall(s.tenant.id, alice.id);
    expect((await decide(op, once, 'deny')).status).toBe(303);
    const again = await decide(op, once, 'approve');
    expect(again.status).toBe(404);
    expect(await statusOf(once.id)).toMatchObject({ status: 'failed', error: { code: 'approval_denied' } });

    const late = await waitingCall(s.tenant.id, alice.id, { expiresInS: -1 });
    const r = await decide(op, late);
    expect(r.status).toBe(409);
    expect(await errorOf(r)).toBe('approval_expired');
    expect((await statusOf(late.id)).status).toBe('awaiting_approval');

    const tampered = await waitingCall(s.tenant.id, alice.id);
    const t = await decide(op, { id: tampered.id, hash: `${tampered.hash}0` });
    expect(t.status).toBe(409);
    expect(await errorOf(t)).toBe('approval_changed');
    for (const w of [users, late, tampered]) expect(await decisions(w.id)).toEqual([]);
  });

  it('8 concurrent approvals of one call: exactly one decision', async () => {
    const w = await waitingCall(s.tenant.id, alice.id);
    const answers = await Promise.all(Array.from({ length: 8 }, () => decide(op, w)));
    expect(answers.map((r) => r.status).sort()).toEqual([303, 404, 404, 404, 404, 404, 404, 404]);
    expect(await decisions(w.id)).toEqual([`tool_call.approved:api_key:${keyA.id}`]);
    expect((await statusOf(w.id)).status).toBe('queued');
  });

  it('a form without its CSRF token, or with another one, is refused', async () => {
    const w = await waitingCall(s.tenant.id, alice.id);
    for (const csrf of [null, 'x'.repeat(43)]) {
      const r = await decide(op, w, 'approve', csrf);
      expect(r.status).toBe(403);
      expect(await errorOf(r)).toBe('csrf_invalid');
    }
    expect((await statusOf(w.id)).status).toBe('awaiting_approval');
    expect(await decisions(w.id)).toEqual([]);
  });

  it('a key with admin but not calls:approve lists the calls and cannot decide them', async () => {
    const w = await waitingCall(s.tenant.id, alice.id);
    const viewer = await signedIn(s.slug, listOnly.key);
    const html = await viewer.page('/approvals');
    expect(html).toContain(`data-call="${w.id}"`);
    expect(html).toContain('data-approve-scope="missing"');
    expect(html).not.toContain(`/approvals/${w.id}"`);
    const r = await decide(viewer, w);
    expect(r.status).toBe(403);
    expect(await errorOf(r)).toBe('insufficient_scope');
    expect((await statusOf(w.id)).status).toBe('awaiting_approval');
  });
});
