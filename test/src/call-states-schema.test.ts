import { CALL_STATUSES, PENDING_STATUSES } from '@mcprt/calls';
import { createDb } from '@mcprt/db';
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
    const rows = await sql`select e.enumlabel from pg_enum e join pg_type t on t.oid = e.enumtypid where t.typname = 'tool_call_status' order by e.enumsortorder`;
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
});
