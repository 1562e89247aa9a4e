/**
 * Throughput benchmark: MCP tools/call end to end (client → API over loopback HTTP → BullMQ →
 * a separate worker process → Postgres → completion bell → API → client) against two yardsticks in
 * the same run: bare BullMQ (no-op processor) on the same Redis, and a peer — the stateless MCP
 * server on the official SDK a user would run instead (./peer-server.ts: `createMcpHandler` +
 * `McpServer`, an inline echo tool, a jose ES256 bearer check per request, `node:http`).
 *
 * As deployed: the API, the worker and the peer are their own OS processes, the API and the worker
 * started from their real entry points (`apps/{api,worker}/src/main.ts`, LOG_LEVEL warn); this
 * process holds the load clients and the dev IdP(s). By default (BENCH_AUTH=builtin) the bench
 * tenant is what new tenants are: its own authorization server, federated to a dev IdP, and each
 * user's access token comes from the real OAuth flow of that AS (./builtin-tokens.ts), verified
 * in-process by the API.
 *
 * A shared machine's speed drifts over minutes, so the run alternates the measurements:
 * BENCH_ROUNDS rounds of (bare BullMQ, end to end, peer), one ratio per round; the last line gives
 * the medians. The peer is driven by the same load client, with the same load shape and era, and
 * every answer of either is checked (this call's own message back).
 *
 * Run: `pnpm bench` (throughput, the default) or `pnpm bench:latency` (BENCH_MODE=latency, ./latency.ts).
 * Env overrides:
 *   BENCH_MODE         throughput (default) or latency: after the warm-up, one e2e round at
 *                      BENCH_CONCURRENCY measures the capacity; then, e2e and peer in turn,
 *                      BENCH_LATENCY_SAMPLES calls (default 2000, after BENCH_LATENCY_WARMUP = 200)
 *                      with 1 in flight, and BENCH_OPEN_LOOP_S seconds (default 10) of open-loop load
 *                      at half the measured e2e capacity
 *   BENCH_ROUNDS       rounds of (bare, e2e, peer) (default 3)
 *   BENCH_CALLS        measured e2e and peer calls per round (default 2000), after BENCH_BARE_WARMUP_ROUNDS
 *                      unmeasured bare rounds (default 4) and BENCH_WARMUP calls each (default 4000)
 *   BENCH_CONCURRENCY  calls in flight (default 64: enough to keep both cores busy, like the bare
 *                      run, which has all its jobs in Redis at once; fewer leave the path latency-bound), spread over BENCH_CLIENTS clients (default 64)
 *   BENCH_CLIENT       raw (default: keep-alive JSON-RPC poster on plain sockets) or sdk (the official MCP
 *                      SDK Client, e2e only; the peer is always driven by the raw poster)
 *   BENCH_BARE_JOBS    bare BullMQ jobs per round (default 5000); BENCH_BARE_ADD=single adds them one by one
 *                      (BENCH_CONCURRENCY in flight, like the API) instead of addBulk chunks of 250
 *   BENCH_WORKER_CONCURRENCY  both workers' concurrency (default 16, the config default)
 *   BENCH_DB_POOL_MAX  DATABASE_POOL_MAX of the API and the worker (default: the harness's 5)
 *   BENCH_API_PROCESSES     API replicas the clients spread over (default 1)
 *   BENCH_WORKER_PROCESSES  worker processes (default 1)
 *   BENCH_PROTOCOL     the MCP revision the clients speak: 2026-07-28 (default; per-request `_meta`
 *                      envelope and standard headers, the SDK v2 client for BENCH_CLIENT=sdk) or a 2025
 *                      revision (2025-11-25, 2025-06-18, 2025-03-26; the SDK v1 client for BENCH_CLIENT=sdk)
 *   BENCH_METHOD       call (default) or ping: a request that does no work instead of `tools/call`, the
 *                      cost of the front alone (HTTP, bearer check, SDK; no database, queue or worker):
 *                      `ping` in a 2025 revision, `server/discover` in 2026-07-28 (which removed `ping`)
 *   BENCH_AUDIT_CHECKPOINT_MS  the workers' audit checkpointer interval (default 1000; 0 = off)
 *   BENCH_AUTH         builtin (default): a built-in AS tenant; the users sign in through its OAuth flow
 *                      (discovery, dynamic registration, code + PKCE, login at the dev IdP, consent) and
 *                      their 600 s tokens are refreshed between phases; external: the tenant trusts the
 *                      harness's dev IdP, which mints 1 h tokens directly (the mode before tenants had their own authorization server)
 *   BENCH_TOKEN_REFRESH_S  builtin only: refresh the tokens once they are this old (default: half their
 *                      lifetime); between phases once half as old. 0 refreshes at every phase (the smoke test)
 *   BENCH_DATABASE_URL the database the run drops, re-creates and uses (default: TEST_DATABASE_URL's
 *                      server, database mcprt_bench)
 *   BENCH_PEER_COMMAND another peer server to measure instead of ./peer-server.ts: a shell command
 *                      run from the repository's root that keeps its contract (./peer.ts, spawnPeer)
 *   BENCH_CPU_PROF=<dir>  write bench-<pid>.cpuprofile (this process, first round's e2e only), and
 *                      api-<pid>.cpuprofile and worker-<pid>.cpuprofile (whole process lives, via
 *                      ./cpu-prof.mjs); open in DevTools
 *   BENCH_ALLOC_PROF=<dir>  write api-<pid>.heapprofile and worker-<pid>.heapprofile: sampled allocations
 *                      over the processes' lives, garbage included (./cpu-prof.mjs); open in DevTools
 *   MCPRT_APP_NODE_ARGS  extra node flags for the API and worker processes (space-separated; e.g.
 *                      --trace-gc-nvp, one line per collection with what survived and was promoted)
 *   MCPRT_APP_OUTPUT_DIR=<dir>  each API and worker process's whole output also to <dir>/<app>-<pid>.log
 *   BENCH_OTEL=on      tracing on in the API and the workers (OTEL_TRACES_EXPORTER=otlp, http/protobuf, the
 *                      default batch settings, every call sampled) exporting to a sink in this process
 *                      that reads and drops the requests (a collector's cost is not measured)
 * Exit 1 when more than 1% of the measured calls (e2e or peer) fail. Machine-readable lines:
 *   memory api_rss_mb=<n> api_heap_mb=<n> worker_rss_mb=<n> worker_heap_mb=<n> peer_rss_mb=<n>
 *     (throughput mode; medians of samples taken at the end of each measured round, summed over replicas)
 *   e2e_calls_per_s=<n> bare_bullmq_jobs_per_s=<n> ratio=<e2e/bare> p50_ms=<n> p99_ms=<n> peer_calls_per_s=<n> vs_peer=<e2e/peer>
 *     (throughput mode, the last line: medians over the rounds; latency percentiles over all measured e2e calls)
 *   latency_1_inflight e2e_p50_ms=<n> e2e_p99_ms=<n> peer_p50_ms=<n> peer_p99_ms=<n>
 *   latency_open_loop rate=<n>/s e2e_p50_ms=<n> e2e_p99_ms=<n> peer_p50_ms=<n> peer_p99_ms=<n>
 *     (latency mode, the last two lines)
 */
import { performance } from 'node:perf_hooks';
import { bareBullmq } from './bare-bullmq.js';
import { startDeployment, type Deployment } from './deployment.js';
import { latencyMode } from './latency-mode.js';
import { drive } from './load.js';
import { startPeer, type Peer } from './peer.js';
import { throughputMode } from './throughput-mode.js';
import {
  API_PROCESSES,
  AUTH,
  BARE_ADD,
  BARE_JOBS,
  BARE_WARMUP_ROUNDS,
  CALLS,
  CLIENT_KIND,
  CLIENTS,
  CONCURRENCY,
  MODE,
  PROTOCOL,
  ROUNDS,
  USERS,
  WARMUP,
  WORKER_CONCURRENCY,
  WORKER_PROCESSES,
} from './settings.js';
import { log, round } from './stats.js';

/**
 * Warm-up, all sides, to steady state (each speeds up markedly over its first thousands of jobs and
 * calls as the JIT of each process settles): BARE_WARMUP_ROUNDS unmeasured bare rounds, WARMUP calls
 * e2e and to the peer.
 */
async function warmUp(d: Deployment, peer: Peer): Promise<void> {
  const bw = [];
  // Latency mode has no bare rounds to warm.
  for (let i = 0; i < (MODE === 'latency' ? 0 : BARE_WARMUP_ROUNDS); i++) bw.push(round((await bareBullmq(BARE_JOBS, WORKER_CONCURRENCY)).jobsPerS));
  if (WARMUP === 0) return;
  await d.refreshBetweenPhases();
  const w = await drive(d.clients, WARMUP, Math.min(CONCURRENCY, WARMUP));
  const pw = await drive(peer.clients, WARMUP, Math.min(CONCURRENCY, WARMUP));
  log(
    `warm-up: bare BullMQ ${bw.length ? `${bw.join(' → ')} jobs/s` : 'none'}; e2e ${WARMUP} calls at ${round((WARMUP / w.ms) * 1000)} calls/s, ${w.errors} errors${w.errorSamples.length ? ` (e.g. ${w.errorSamples[0]})` : ''}; peer ${WARMUP} calls at ${round((WARMUP / pw.ms) * 1000)} calls/s, ${pw.errors} errors${pw.errorSamples.length ? ` (e.g. ${pw.errorSamples[0]})` : ''}`,
  );
}

async function main(): Promise<number> {
  const started = performance.now();
  const what =
    MODE === 'latency'
      ? 'latency mode: e2e capacity, then e2e and peer with 1 call in flight and open loop at half that capacity'
      : `${ROUNDS} rounds of ${BARE_JOBS} bare BullMQ jobs (${BARE_ADD === 'bulk' ? 'addBulk ×250' : `single adds, ${CONCURRENCY} in flight`}), ${CALLS} e2e calls, ${CALLS} peer calls`;
  log(
    `bench: ${what} (MCP ${PROTOCOL}, ${CLIENT_KIND} client); ${CONCURRENCY} calls in flight over ${CLIENTS} MCP clients, users ${USERS.join('/')} (${AUTH === 'builtin' ? "tokens from the tenant's built-in AS" : "tokens minted by the tenant's external IdP"}); worker concurrency ${WORKER_CONCURRENCY} (both); ${API_PROCESSES} API and ${WORKER_PROCESSES} worker process(es)`,
  );
  let d: Deployment | undefined;
  let peer: Peer | undefined;
  let exitCode = 0;
  try {
    d = await startDeployment();
    peer = await startPeer();
    const what = process.env.BENCH_PEER_COMMAND
      ? `BENCH_PEER_COMMAND (${process.env.BENCH_PEER_COMMAND})`
      : 'SDK v2 createMcpHandler + McpServer, jose ES256 bearer check per request, node:http';
    log(`peer: ${what}, pid ${peer.pid}, ${peer.mcpUrl}`);
    await warmUp(d, peer);
    const { ok, lastLines } = MODE === 'latency' ? await latencyMode(d, peer) : await throughputMode(d, peer);
    if (!ok) exitCode = 1;
    log(`total bench time ${round((performance.now() - started) / 1000, 1)} s`);
    if (d.otelSink) log(`otel sink: ${d.otelSink.requests} export requests, ${Math.round(d.otelSink.bytes / 1024)} KiB`);
    for (const line of lastLines) log(line);
  } finally {
    if (peer && !(await peer.stop())) exitCode = 1;
    if (d && !(await d.stop())) exitCode = 1;
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
