import type { DbHandle } from '@mcprt/db';

/** A node of `EXPLAIN (ANALYZE, FORMAT JSON)`, as far as the scan checks read it. */
export type PlanNode = {
  'Node Type': string;
  'Relation Name'?: string;
  'Index Name'?: string;
  'Actual Rows': number;
  'Actual Loops': number;
  'Rows Removed by Filter'?: number;
  Plans?: PlanNode[];
};

export const planNodes = (n: PlanNode): PlanNode[] => [n, ...(n.Plans ?? []).flatMap(planNodes)];

/** The scans of `relation` in a plan: rows visited (returned plus read and filtered out, over every loop) and the indexes used. */
export function scansOf(plan: PlanNode, relation: string): { visited: number; indexes: string[] } {
  const scans = planNodes(plan).filter((n) => n['Relation Name'] === relation);
  return {
    visited: scans.reduce((sum, n) => sum + (n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0)) * n['Actual Loops'], 0),
    indexes: [...new Set(scans.map((n) => `${n['Node Type']} ${n['Index Name']}`))],
  };
}

/**
 * EXPLAIN ANALYZE of a statement prepared as the app sent it, with a generic plan (as a prepared
 * statement gets after a few runs); each `$n` is bound by the type Postgres inferred for it, from
 * `values`: a literal for every parameter of that type, or a list taken in order.
 */
export function genericPlan(owner: DbHandle['sql'], statement: string, values: Record<string, string | string[]>): Promise<PlanNode> {
  return owner.begin(async (tx) => {
    await tx`set local plan_cache_mode = force_generic_plan`;
    await tx.unsafe(`prepare probe as ${statement}`);
    const [p] = await tx`select parameter_types::text[] as types from pg_prepared_statements where name = 'probe'`;
    const lists = Object.fromEntries(Object.entries(values).map(([k, v]) => [k, Array.isArray(v) ? [...v] : v]));
    const bound = (p!.types as string[]).map((t) => {
      const v = lists[t];
      if (v === undefined) throw new Error(`genericPlan: no value for a parameter of type ${t} in: ${statement}`);
      return Array.isArray(v) ? v.shift()! : v;
    });
    const [r] = await tx.unsafe(`explain (analyze, format json) execute probe${bound.length ? `(${bound.join(', ')})` : ''}`);
    await tx.unsafe('deallocate probe');
    const json = r!['QUERY PLAN'] as string | { Plan: PlanNode }[];
    return (typeof json === 'string' ? (JSON.parse(json) as { Plan: PlanNode }[]) : json)[0]!.Plan;
  });
}
