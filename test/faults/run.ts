/**
 * The fault suite: `pnpm test:faults [--redis-cluster] [--only <scenario>[,<scenario>…]]`, or
 * `pnpm test:faults --soak 30m [--rate <calls/s>]` (soak.ts).
 *
 * Jepsen-style: clients record every operation (submitted, acknowledged, answer) while a nemesis
 * injects faults into processes and services this suite starts itself (world.ts); each scenario
 * (scenarios.ts) is its fault and its own checks; after each one the faults are healed and the
 * invariants are checked over the history and the database (check.ts).
 *
 * The last line is `fault_scenarios=<n> acknowledged=<n> lost=0 stuck=0 duplicated=0 hung=0`; the exit
 * code is non-zero if any invariant failed.
 */
import { spawnSync } from 'node:child_process';
import { check } from './check.js';
import { scenarios, type ScenarioOutcome } from './scenarios.js';
import { soak } from './soak.js';
import { closeWorld, FAILOVER_BOUND_MS, heal, log, startWorld, type Answer } from './world.js';

async function main(): Promise<number> {
  const soakArg = process.argv.indexOf('--soak');
  if (soakArg > 0) {
    const m = /^(\d+)(s|m)$/.exec(process.argv[soakArg + 1] ?? '');
    if (!m) throw new Error('usage: --soak <n>m|<n>s [--rate <calls per second>]');
    const rateArg = process.argv.indexOf('--rate');
    return soak(Number(m[1]) * (m[2] === 'm' ? 60_000 : 1_000), rateArg > 0 ? Number(process.argv[rateArg + 1]) : undefined);
  }
  const onlyArg = process.argv.indexOf('--only');
  const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;
  // --redis-cluster: the private Redis is a 3-primary cluster, and the scenarios are the Redis ones
  // (unless --only names others): the Redis faults replayed against the queue's shard primary.
  const redisCluster = process.argv.includes('--redis-cluster');
  const chosen = scenarios.filter((s) => (only ? only.has(s.name) : !redisCluster || s.name.startsWith('redis-')));
  const started = Date.now();
  if (spawnSync('redis-server', ['--version']).status !== 0)
    throw new Error('redis-server is not installed: the suite runs a private one it can kill (apt-get install redis-server)');
  const w = await startWorld({ redisCluster });
  const totals = { scenarios: 0, acknowledged: 0, lost: 0, stuck: 0, duplicated: 0, hung: 0, wrong: 0 };
  try {
    let replacedBefore = 0;
    for (const sc of chosen) {
      await heal(w);
      const from = w.ops.length;
      const t0 = Date.now();
      let out: ScenarioOutcome = {};
      let failure: string | undefined;
      try {
        out = await sc.run(w);
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
      // Heal: everything back up before the invariants are read.
      await heal(w);
      const v = await check(w, w.ops.slice(from), out);
      const failoverBad = out.measured?.failover_ms !== undefined && out.measured.failover_ms > FAILOVER_BOUND_MS;
      const ok = !failure && !failoverBad && v.lost + v.stuck + v.duplicated + v.hung + v.wrong === 0;
      const answers = w.ops.slice(from).flatMap((o) => o.answers.map((a) => a.answer));
      const count = (a: Answer) => answers.filter((x) => x === a).length;
      log(
        `${ok ? 'PASS' : 'FAIL'} ${sc.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ops=${w.ops.length - from} acknowledged=${v.acknowledged}`,
        `results=${count('result')} pending=${count('pending')} unavailable=${count('unavailable')} errors=${count('error')}`,
        `lost=${v.lost} stuck=${v.stuck} duplicated=${v.duplicated} hung=${v.hung} wrong=${v.wrong}`,
        out.measured ? JSON.stringify(out.measured) : '',
        failure ? `error: ${failure}` : '',
      );
      for (const n of v.notes.slice(0, 30)) log(`  note: ${n}`);
      // A worker that found its fetch loop stuck and replaced its BullMQ worker (apps/worker fetch-watch.ts) says so.
      const replaced = w.workers.reduce((k, p) => k + (p.output().match(/its fetch loop is stuck/g)?.length ?? 0), 0);
      if (replaced > replacedBefore) log(`  note: ${replaced - replacedBefore} stuck fetch loop(s) found and their workers replaced`);
      replacedBefore = replaced;
      // FAULTS_DUMP=1: a failed scenario's API and worker logs (their last FAULTS_DUMP_CHARS characters, default 6 000), to see what went wrong.
      if (!ok && process.env.FAULTS_DUMP === '1')
        for (const p of [...w.apis, ...w.workers]) log(`  output of pid ${p.child.pid}:\n${p.output().slice(-Number(process.env.FAULTS_DUMP_CHARS ?? 6_000))}`);
      totals.scenarios++;
      totals.acknowledged += v.acknowledged;
      totals.lost += v.lost;
      totals.stuck += v.stuck;
      totals.duplicated += v.duplicated;
      totals.hung += v.hung;
      totals.wrong += v.wrong + (failure || failoverBad ? 1 : 0);
    }
  } finally {
    await closeWorld(w);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s${totals.wrong ? `; ${totals.wrong} other invariant violations (see FAIL lines)` : ''}`);
  console.log(
    `fault_scenarios=${totals.scenarios} acknowledged=${totals.acknowledged} lost=${totals.lost} stuck=${totals.stuck} duplicated=${totals.duplicated} hung=${totals.hung}`,
  );
  return totals.lost + totals.stuck + totals.duplicated + totals.hung + totals.wrong === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    console.log('fault_scenarios=0 acknowledged=0 lost=0 stuck=0 duplicated=0 hung=0');
    process.exit(1);
  },
);
