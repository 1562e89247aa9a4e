/**
 * The invariants, checked over the history the clients recorded and over the database, once the
 * faults are healed:
 *
 * - lost: an acknowledged call (the client got its id) that is not in the database;
 * - stuck: an acknowledged call not final within HEAL_MS after healing;
 * - duplicated: a call with more than one finishing audit row, or one operation recorded as two calls;
 * - hung: a request that took longer than HANG_MS;
 * - wrong: a succeeded call whose result is not its input, an echo call that failed, an answer that is
 *   neither a result, a call id, nor a retryable refusal (a driver's text, a -32603, a reset after the
 *   row committed), a call recorded whose client never got its id, a poison call not failed and
 *   audited exactly once.
 */
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { HANG_MS, HEAL_MS, type Op, type World } from './world.js';

export interface Verdict {
  acknowledged: number;
  lost: number;
  stuck: number;
  duplicated: number;
  hung: number;
  wrong: number;
  notes: string[];
}

export async function check(w: World, ops: Op[], extra: { poisonCallIds?: string[] } = {}): Promise<Verdict> {
  const sql = w.s.db.sql;
  const acked = ops.filter((o) => o.callId);
  const ids = acked.map((o) => o.callId!);
  const notes: string[] = [];
  const deadline = Date.now() + HEAL_MS;
  let rows: { id: string; status: string; message: string; result: { message?: string } | null }[] = [];
  for (;;) {
    rows = (await sql`select id, status, arguments->>'message' as message, result, error from tool_calls where id = any(${ids})`) as unknown as typeof rows;
    if (rows.every((r) => r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled') || Date.now() > deadline) break;
    await sleep(250);
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  const lost = acked.filter((o) => !byId.has(o.callId!)).length;
  const stuckRows = rows.filter((r) => r.status === 'queued' || r.status === 'running');
  if (stuckRows.length > 0) {
    const by = (st: string) => stuckRows.filter((r) => r.status === st).map((r) => r.id);
    notes.push(
      `stuck: ${by('queued').length} queued (${by('queued').slice(0, 3).join(' ')}), ${by('running').length} running (${by('running').slice(0, 3).join(' ')})`,
    );
    notes.push(
      ...queueState(
        w,
        stuckRows.slice(0, 3).map((r) => r.id),
      ),
    );
  }
  let wrong = 0;
  for (const o of acked) {
    const r = byId.get(o.callId!);
    if (r && (r.message !== o.message || (r.status === 'succeeded' && r.result?.message !== o.message))) wrong++;
    // An echo call has no reason to fail: a failed one is a fault that leaked into an outcome.
    if (r?.status === 'failed') wrong++;
    if (r?.status === 'failed') notes.push(`${o.callId} failed: ${JSON.stringify((r as { error?: unknown }).error)}`);
  }
  for (const o of ops) {
    for (const a of o.answers) if (a.answer === 'error' && !/UND_ERR_SOCKET|ECONNRESET|other side closed/.test(a.detail ?? '')) wrong++;
    for (const a of o.answers) if (a.detail === 'answer does not carry its own message') wrong++;
    for (const a of o.answers) if (a.answer === 'error') notes.push(`op ${o.n}: ${a.detail ?? ''}`);
    if (!o.callId && o.answers.some((a) => a.answer !== 'unavailable')) notes.push(`op ${o.n} never acknowledged: ${JSON.stringify(o.answers.slice(-2))}`);
  }
  // Recorded, but the client never got its id: the defect the idempotency key papers over.
  const messages = ops.filter((o) => !o.callId).map((o) => o.message);
  const orphans =
    (await sql`select count(*)::int as n from tool_calls where tenant_id = ${w.s.tenant.id} and arguments->>'message' = any(${messages})`) as unknown as [
      { n: number },
    ];
  if (orphans[0].n > 0) {
    wrong += orphans[0].n;
    notes.push(`${orphans[0].n} recorded calls whose client got no id`);
  }
  const all = ops.map((o) => o.message);
  const [dupCalls] = (await sql`
    select count(*)::int as n from (select arguments->>'message' from tool_calls where tenant_id = ${w.s.tenant.id} and arguments->>'message' = any(${all})
    group by 1 having count(*) > 1) x`) as unknown as [{ n: number }];
  const allIds = [...ids, ...(extra.poisonCallIds ?? [])];
  const [dupAudit] = (await sql`
    select count(*)::int as n from (select call_id from audit_events where call_id = any(${allIds}) and action in ('tool_call.succeeded', 'tool_call.failed')
    group by 1 having count(*) > 1) x`) as unknown as [{ n: number }];
  const hung = ops.reduce((k, o) => k + o.answers.filter((a) => a.answer === 'hung' || a.ms > HANG_MS).length, 0);
  for (const id of extra.poisonCallIds ?? []) {
    const [row] = (await sql`select status from tool_calls where id = ${id}`) as unknown as [{ status: string } | undefined];
    const [{ n }] = (await sql`select count(*)::int as n from audit_events where call_id = ${id} and action = 'tool_call.failed'`) as unknown as [
      { n: number },
    ];
    if (row?.status !== 'failed' || n !== 1) {
      wrong++;
      notes.push(`poison ${id}: status ${row?.status}, failed audits ${n}`);
    }
  }
  return { acknowledged: acked.length, lost, stuck: stuckRows.length, duplicated: dupCalls.n + dupAudit.n, hung, wrong, notes };
}

/** One redis-cli command against the node on `port` (`-c`: following a cluster's redirects); its output, or why it failed. */
function redisCli(port: string, ...args: string[]): string {
  try {
    return execFileSync('redis-cli', ['-c', '-p', port, ...args], { encoding: 'utf8', timeout: 5_000 });
  } catch (e) {
    return `(${e instanceof Error ? e.message.split('\n')[0] : String(e)})`;
  }
}

/**
 * What the queue holds for stuck calls (their jobs' places and hashes, the lists' lengths), who is
 * blocked on each node and how each node sees the cluster: a stuck call is either not queued or not taken.
 */
function queueState(w: World, ids: string[]): string[] {
  const ports = w.redis.env.REDIS_URL.split(',').map((u) => new URL(u).port);
  const q = `${w.apiEnv.QUEUE_PREFIX}:${TOOL_CALLS_QUEUE}`;
  const cli = (...args: string[]) =>
    redisCli(ports[0]!, ...args)
      .trim()
      .replace(/\n/g, ' ');
  const out = [
    `queue: wait=${cli('LLEN', `${q}:wait`)} active=${cli('LLEN', `${q}:active`)} delayed=${cli('ZCARD', `${q}:delayed`)} prioritized=${cli('ZCARD', `${q}:prioritized`)} marker=${cli('ZCARD', `${q}:marker`)}`,
  ];
  for (const id of ids)
    out.push(
      `job ${id}: wait@${cli('LPOS', `${q}:wait`, id)} active@${cli('LPOS', `${q}:active`, id)} delayed=${cli('ZSCORE', `${q}:delayed`, id)} hash=${cli('HMGET', `${q}:${id}`, 'processedOn', 'finishedOn', 'attemptsMade', 'failedReason').slice(0, 200)}`,
    );
  for (const p of ports) {
    const clients = redisCli(p, 'CLIENT', 'LIST').split('\n').filter(Boolean);
    const blocked = clients.filter((c) => /cmd=(bzpopmin|blpop|brpoplpush|bzpopmax)/.test(c));
    out.push(`node ${p}: ${clients.length} clients, ${blocked.length} blocked`);
    for (const b of blocked)
      out.push(
        `  ${b.replace(/ (fd|db|sub|psub|ssub|multi|watch|qbuf|qbuf-free|argv-mem|multi-mem|rbs|rbp|obl|oll|omem|tot-mem|events|user|redir|resp|lib-name|lib-ver|io-thread)=\S*/g, '')}`,
      );
    // Node id, address, flags and slots of each node this one knows (one line on a single Redis: its error).
    const nodes = redisCli(p, 'CLUSTER', 'NODES').split('\n').filter(Boolean);
    out.push(
      `  cluster nodes seen by ${p}: ${nodes
        .map((l) =>
          l
            .split(' ')
            .filter((_, i) => i === 1 || i === 2 || i >= 7)
            .join(' '),
        )
        .join('; ')}`,
    );
  }
  return out;
}
