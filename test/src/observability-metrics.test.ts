import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './harness/free-port.js';
import { dashboardExpressions, exportedSeriesNames, metricNamesOf, ruleExpressions, valuesOf, type QueryUse } from './harness/promql.js';
import { startStack, type Stack } from './harness/stack.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ALERTS = `${root}/infra/observability/prometheus/alerts.yml`;
const DASHBOARD = `${root}/infra/observability/grafana/dashboards/mcp-runtime.json`;
/** Series Prometheus makes itself for every target (not exported by the processes). */
const PROMETHEUS_SERIES = new Set(['up']);

/** The uses whose metric names are not offered by `exported`, as "where: name". */
function missing(uses: QueryUse[], exported: Set<string>): string[] {
  return uses.flatMap((u) =>
    metricNamesOf(u.expr)
      .filter((n) => !exported.has(n) && !PROMETHEUS_SERIES.has(n))
      .map((n) => `${u.where}: ${n}`),
  );
}

describe('the PromQL check itself', () => {
  it('reads names from the syntax tree, with histogram suffixes, and refuses what it cannot verify', () => {
    expect(metricNamesOf('histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{x=~"y|z"}[5m]))) > on() group_left b_total')).toEqual([
      'a_seconds_bucket',
      'b_total',
    ]);
    // Label values, label names and function names are not metric names.
    expect(metricNamesOf('sum by (tool) (rate(c_total{tool="rate"}[1m])) and absent(d)')).toEqual(['c_total', 'd']);
    expect(() => metricNamesOf('sum(rate(c_total[5m])')).toThrow(/syntax error/);
    expect(() => metricNamesOf('{__name__=~"mcprt_.*"}')).toThrow(/without a metric name/);
    const exported = exportedSeriesNames('# TYPE h_seconds histogram\n# TYPE c_total counter\n# TYPE g gauge\n');
    expect([...exported].sort()).toEqual(['c_total', 'g', 'h_seconds_bucket', 'h_seconds_count', 'h_seconds_sum']);
    // A bare histogram name, a misspelt name: reported.
    expect(missing([{ where: 'x', expr: 'rate(h_seconds[5m]) + c_totals + g' }], exported)).toEqual(['x: h_seconds', 'x: c_totals']);
  });
});

describe('dashboards and alerts query only metrics the processes export', () => {
  let s: Stack;
  let apiMetrics: string;
  let workerMetrics: string;
  beforeAll(async () => {
    const [apiPort, workerPort] = [await freePort(), await freePort()];
    s = await startStack({ label: 'obs-metrics', env: { METRICS_PORT: String(apiPort), WORKER_METRICS_PORT: String(workerPort) } });
    const client = await s.client(await s.token('alice'));
    const result = await client.callTool({ name: 'echo', arguments: { message: 'metrics' } });
    expect(result.isError).toBeFalsy();
    const scrape = async (url: string) => {
      const res = await fetch(url);
      expect(res.status).toBe(200);
      return res.text();
    };
    apiMetrics = await scrape(s.api!.metricsUrl!);
    workerMetrics = await scrape(`http://127.0.0.1:${workerPort}/metrics`);
  });
  afterAll(() => s?.close());

  it('every metric name in the alert rules and the dashboard panels is exported by the API or the worker', () => {
    const exported = new Set([...exportedSeriesNames(apiMetrics), ...exportedSeriesNames(workerMetrics)]);
    const uses = [...ruleExpressions(ALERTS), ...dashboardExpressions(DASHBOARD)];
    // Enough to be a real check: every alert and panel query was read.
    expect(uses.length).toBeGreaterThan(30);
    expect(missing(uses, exported)).toEqual([]);
  });

  it('the call is counted by tool and tenant, and the scrape-time gauges carry samples', () => {
    const call = { tool: 'echo', tenant: s.tenant.id, outcome: 'succeeded' };
    expect(valuesOf(workerMetrics, 'mcprt_tool_calls_total', { ...call, app: 'worker' })).toEqual([1]);
    expect(valuesOf(workerMetrics, 'mcprt_tool_call_seconds_count', call)).toEqual([1]);
    for (const text of [apiMetrics, workerMetrics]) {
      expect(valuesOf(text, 'mcprt_dependency_up', { dependency: 'postgres' })).toEqual([1]);
      expect(valuesOf(text, 'mcprt_dependency_up', { dependency: 'redis' })).toEqual([1]);
    }
    expect(valuesOf(apiMetrics, 'mcprt_queue_jobs', { state: 'wait' })).toEqual([0]);
    expect(valuesOf(apiMetrics, 'mcprt_queue_oldest_waiting_seconds')).toEqual([0]);
    // The call's audit rows are younger than the first checkpoint: a lag, not yet sealed, below a minute.
    const [lag] = valuesOf(workerMetrics, 'mcprt_audit_checkpoint_lag_seconds');
    expect(lag).toBeGreaterThanOrEqual(0);
    expect(lag).toBeLessThan(60);
    // A gauge is registered only where it can be read: no queue gauge with a misleading 0 in the worker.
    expect(workerMetrics).not.toContain('mcprt_queue_oldest_waiting_seconds');
  });

  it('the alert rules pass promtool check rules', () => {
    if (!existsSync('/usr/bin/promtool') && process.env.CI !== 'true') return; // .ci/run installs it; a CI run without it fails here.
    const out = execFileSync('promtool', ['check', 'rules', ALERTS], { encoding: 'utf8' });
    expect(out).toMatch(/SUCCESS: \d+ rules found/);
  });
});
