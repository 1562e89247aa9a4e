import { readFileSync } from 'node:fs';
import { parser } from '@prometheus-io/lezer-promql';
import { parse as parseYaml } from 'yaml';

/** Grafana's built-in interval variables, replaced the way Grafana does before the query reaches Prometheus. */
const GRAFANA_INTERVALS = { $__rate_interval: '5m', $__interval: '1m', $__range: '1h' } as const;

export function substituteGrafanaIntervals(expr: string): string {
  let out = expr;
  for (const [name, value] of Object.entries(GRAFANA_INTERVALS)) out = out.split(name).join(value);
  return out;
}

/**
 * The metric names a PromQL expression selects, read from its syntax tree (lezer-promql, the parser of
 * Prometheus's own UI). Throws on a syntax error and on a selector without a literal name (e.g.
 * `{__name__=~"…"}`), which this check could not verify.
 */
export function metricNamesOf(expr: string): string[] {
  const tree = parser.parse(expr);
  const names: string[] = [];
  const problems: string[] = [];
  tree.iterate({
    enter(node) {
      if (node.type.isError) problems.push(`syntax error at ${node.from}: ${JSON.stringify(expr.slice(Math.max(0, node.from - 20), node.to + 20))}`);
      if (node.name === 'VectorSelector') {
        const id = node.node.getChild('Identifier');
        if (id) names.push(expr.slice(id.from, id.to));
        else problems.push(`selector without a metric name: ${expr.slice(node.from, node.to)}`);
      }
    },
  });
  if (problems.length) throw new Error(`${problems.join('; ')} in ${expr}`);
  return names;
}

export interface QueryUse {
  where: string;
  expr: string;
}

/** Every expression of a Prometheus rule file (alerting and recording rules). */
export function ruleExpressions(file: string): QueryUse[] {
  const doc = parseYaml(readFileSync(file, 'utf8')) as { groups: { name: string; rules: { alert?: string; record?: string; expr: string }[] }[] };
  return doc.groups.flatMap((g) => g.rules.map((r) => ({ where: `${g.name}/${r.alert ?? r.record}`, expr: String(r.expr) })));
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

/**
 * Every PromQL expression of a Grafana dashboard: the panels' targets (rows' nested panels too), and
 * the metric selector of each `label_values(<selector>, <label>)` template variable.
 */
export function dashboardExpressions(file: string): QueryUse[] {
  const dash = JSON.parse(readFileSync(file, 'utf8')) as { panels: Panel[]; templating?: { list: { name: string; query: string | { query: string } }[] } };
  const out: QueryUse[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}"`, expr: substituteGrafanaIntervals(t.expr) });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  for (const v of dash.templating?.list ?? []) {
    const q = typeof v.query === 'string' ? v.query : v.query.query;
    const m = /^label_values\((.*),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$/.exec(q.trim());
    if (!m) throw new Error(`variable ${v.name}: only label_values(<selector>, <label>) is checked, got ${q}`);
    out.push({ where: `variable ${v.name}`, expr: m[1]! });
  }
  return out;
}

/**
 * The series names a Prometheus text exposition offers: each family from its `# TYPE` line, with the
 * suffixes its type adds (histogram: _bucket, _sum, _count; summary: the quantiles under the name, _sum, _count).
 */
export function exportedSeriesNames(exposition: string): Set<string> {
  const names = new Set<string>();
  for (const line of exposition.split('\n')) {
    const m = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    const [, name, type] = m as unknown as [string, string, string];
    if (type === 'histogram') for (const s of ['_bucket', '_sum', '_count']) names.add(name + s);
    else if (type === 'summary') for (const s of ['', '_sum', '_count']) names.add(name + s);
    else names.add(name);
  }
  return names;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a text exposition (label values unescaped; comments skipped). */
export function samplesOf(exposition: string): Sample[] {
  const out: Sample[] = [];
  for (const line of exposition.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) continue;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** The values of the samples named `name` whose labels include `labels`. */
export function valuesOf(exposition: string, name: string, labels: Record<string, string> = {}): number[] {
  return samplesOf(exposition)
    .filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))
    .map((s) => s.value);
}
