/**
 * The official MCP conformance suite (@modelcontextprotocol/conformance, pinned in test/package.json)
 * against the test-only conformance tenant: starts the stack (stack.ts), runs every claimed scenario
 * (scenarios.ts) and the authorization subcommand, stops the stack. Last line:
 *   conformance scenarios=<n> passed=<n> failed=<n> not_testable=<n>
 * Exit 1 unless every claimed scenario passed. `--all` also runs the unclaimed server scenarios and
 * reports them (never failing the run): how the lists in docs/conformance.md were judged.
 */
import { runAuthorization } from './authorization.js';
import { CLAIMED, UNCLAIMED } from './scenarios.js';
import { startConformanceStack } from './stack.js';
import { runServerScenario, type ScenarioResult } from './suite.js';

const all = process.argv.includes('--all');
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
const log = (...a: unknown[]) => console.log('[conformance]', ...a);

const stack = await startConformanceStack();
// Ctrl-C or a CI timeout: the stack's processes and database go too.
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => void stack.stop().finally(() => process.exit(130)));
const results: ScenarioResult[] = [];
const extra: ScenarioResult[] = [];
try {
  log(`tenant MCP URL ${stack.mcpUrl}; the suite reaches it through the bearer hop at ${stack.suiteUrl}`);
  for (const [scenario, version] of CLAIMED) {
    if (only && !scenario.includes(only)) continue;
    results.push(report(await runServerScenario(stack.suiteUrl, scenario, version)));
  }
  if (!only || 'authorization'.includes(only)) results.push(report(await runAuthorization({ issuer: stack.issuer, mcpUrl: stack.mcpUrl })));
  if (all) for (const [scenario, version] of UNCLAIMED) extra.push(report(await runServerScenario(stack.suiteUrl, scenario, version), '(unclaimed) '));
} finally {
  if (results.some((r) => r.verdict !== 'passed') && process.env.CONFORMANCE_LOGS) console.log(stack.logs().slice(-20_000));
  await stack.stop();
}

function report(r: ScenarioResult, prefix = ''): ScenarioResult {
  log(`${prefix}${r.verdict.padEnd(12)} ${r.name}`);
  if (r.verdict !== 'passed' || process.env.CONFORMANCE_VERBOSE) {
    for (const c of r.checks.filter((c) => c.status === 'FAILURE' || c.details?.untestable || process.env.CONFORMANCE_VERBOSE)) {
      log(`    ${c.status} ${c.id}${c.details?.untestable ? ' (not testable)' : ''}: ${c.errorMessage ?? ''}`.slice(0, 400));
    }
    if (r.checks.length === 0 || process.env.CONFORMANCE_VERBOSE) log(`    output: ${r.output.slice(-3000)}`);
  }
  return r;
}

if (all) {
  const count = (v: string) => extra.filter((r) => r.verdict === v).length;
  log(`unclaimed: passed=${count('passed')} failed=${count('failed')} not_testable=${count('not testable')}`);
}
const count = (v: string) => results.filter((r) => r.verdict === v).length;
console.log(`conformance scenarios=${results.length} passed=${count('passed')} failed=${count('failed')} not_testable=${count('not testable')}`);
process.exit(results.length > 0 && count('passed') === results.length ? 0 : 1);
