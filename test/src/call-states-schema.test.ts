import { randomUUID } from 'node:crypto';
import { CALL_STATUSES, canMove, forTenant, PENDING_STATUSES, type CallStatus } from '@mcprt/calls';
import { createDb, tenantsRepository } from '@mcprt/db';
import { afterAll, describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from './harness/test-config.js';

/**
 * The state table of @mcprt/calls against the migrated database: the `tool_call_status` enum and the
 * predicates of the partial indexes on `tool_calls` must say what the table says, so a migration or a
 * table edit that drifts from the other fails here.
 */
describe('call states match the database', () => {
  const db = createDb(TEST_DATABASE_URL, { max: 1 });
  const sql = db.sql;
  afterAll(() => db.close());

  it('the status enum has exactly the table’s states, in order', async () => {
    const rows =
      await sql`select e.enumlabel from pg_enum e join pg_type t on t.oid = e.enumtypid where t.typname = 'tool_call_status' order by e.enumsortorder`;
    expect(rows.map((r) => r.enumlabel)).toEqual(CALL_STATUSES);
  });

  it('the pending index covers exactly the pending states', async () => {
    const [row] = await sql`select indexdef from pg_indexes where tablename = 'tool_calls' and indexname = 'tool_calls_user_pending'`;
    const where = /WHERE \((.*)\)$/.exec(row!.indexdef as string)?.[1] ?? '';
    // Postgres shows `status in ('a', 'b')` as `status = ANY (ARRAY['a'::tool_call_status, 'b'::tool_call_status])`.
    const listed = [...where.matchAll(/'([a-z_]+)'::tool_call_status/g)].map((m) => m[1]);
    expect(where).toMatch(/^status = ANY \(ARRAY\[/);
    expect(listed).toEqual(PENDING_STATUSES);
  });

  it('no CHECK constraint on tool_calls names a state the table lacks', async () => {
    const rows = await sql`
      select pg_get_constraintdef(c.oid) as def from pg_constraint c join pg_class t on t.oid = c.conrelid
      where t.relname = 'tool_calls' and c.contype = 'c'`;
    for (const { def } of rows) for (const m of (def as string).matchAll(/'([a-z_]+)'::tool_call_status/g)) expect(CALL_STATUSES).toContain(m[1]);
  });

  it('the queued-calls index is the reconciler’s (a pending state)', async () => {
    const [row] = await sql`select indexdef from pg_indexes where tablename = 'tool_calls' and indexname = 'tool_calls_queued_created'`;
    const listed = [...(row!.indexdef as string).matchAll(/'([a-z_]+)'::tool_call_status/g)].map((m) => m[1]);
    expect(listed).toEqual(['queued']);
    expect(PENDING_STATUSES).toContain('queued');
  });

  it('the database refuses every move between two states the table does not join, and allows every one it does', async () => {
    const tenant = await tenantsRepository(db.db).create({
      slug: `states-${randomUUID().slice(0, 8)}`,
      displayName: 'states',
      idpIssuer: 'https://idp.example.com',
      enabledTools: ['echo'],
    });
    const user = await forTenant(db.db, tenant.id).users.upsert({ issuer: tenant.idpIssuer, subject: 'states' });
    const moved = async (from: CallStatus, to: CallStatus): Promise<boolean> => {
      const id = `call_${randomUUID().replaceAll('-', '').slice(0, 22)}`;
      const waits = from === 'awaiting_approval';
      await sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, approver, approval_expires_at)
        values (${id}, ${tenant.id}, ${user.id}, 'echo', '{}'::jsonb, ${from}::tool_call_status,
                ${waits ? 'user' : null}, ${waits ? new Date(Date.now() + 60_000).toISOString() : null}::timestamptz)`;
      try {
        await sql`update tool_calls set status = ${to}::tool_call_status where id = ${id}`;
        return true;
      } catch (e) {
        expect((e as { code?: string }).code).toBe('23514');
        expect(String(e)).toContain(`cannot move from ${from} to ${to}`);
        return false;
      }
    };
    try {
      const wrong: string[] = [];
      for (const from of CALL_STATUSES)
        for (const to of CALL_STATUSES) if (from !== to && (await moved(from, to)) !== canMove(from, to)) wrong.push(`${from} -> ${to}`);
      expect(wrong).toEqual([]);
      // The attack it stops: a final call reopened by any statement (here the app's own connection, by hand).
      expect(await moved('succeeded', 'running')).toBe(false);
      expect(await moved('awaiting_approval', 'running')).toBe(false);
    } finally {
      // The template database of every other test: leave no row behind, pass or fail.
      await sql`delete from tenants where id = ${tenant.id}`;
    }
  });
});
