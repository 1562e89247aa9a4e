/**
 * The fault suite's private Redis, which its Redis scenarios kill, restart empty and freeze: one
 * `redis-server` on a free port, or (`--redis-cluster`) a private 3-primary Redis Cluster started by
 * infra/scripts/redis-cluster.sh on its own ports and directory. On the cluster the faults hit the
 * primary that owns the queue prefix's hash slot — every key of the runtime is on it (packages/redis
 * keys.ts) — while the other primaries stay up: the cluster a runtime sees when its shard's primary
 * dies, restarts empty (no replica to fail over to; it keeps its slots through nodes.conf) or stalls.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { freePort } from '../src/harness/free-port.js';

export interface RedisService {
  /** REDIS_URL and REDIS_CLUSTER for the processes (a cluster: its seed nodes). */
  env: { REDIS_URL: string; REDIS_CLUSTER: string };
  /** SIGKILL (the queue's shard primary on a cluster). */
  kill(): Promise<void>;
  /** Start again, empty (after `kill`), and wait until it serves. */
  restart(): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open and nothing answers. */
  signal(sig: 'SIGSTOP' | 'SIGCONT'): void;
  /** Stop for good. */
  close(): Promise<void>;
}

async function answers(port: number, until: (r: Redis) => Promise<boolean> = async (r) => (await r.ping()) === 'PONG'): Promise<void> {
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  try {
    for (let i = 0; i < 200; i++) {
      const ok = await probe.connect().then(
        () => until(probe),
        () => false,
      );
      if (ok) return;
      probe.disconnect();
      await sleep(50);
    }
  } finally {
    probe.disconnect();
  }
}

async function exited(child: ChildProcess | undefined): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const done = new Promise((r) => child.once('exit', r));
  child.kill('SIGKILL');
  await done;
}

/** One `redis-server` on a free port, nothing saved. */
export async function singleRedis(): Promise<RedisService> {
  const port = await freePort();
  let child: ChildProcess | undefined;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    const c = child;
    process.once('exit', () => c.kill('SIGKILL'));
    await answers(port);
  };
  await start();
  return {
    env: { REDIS_URL: `redis://127.0.0.1:${port}`, REDIS_CLUSTER: 'false' },
    kill: () => exited(child),
    restart: start,
    signal: (sig) => void child?.kill(sig),
    close: () => exited(child),
  };
}

const SCRIPT = new URL('../../infra/scripts/redis-cluster.sh', import.meta.url).pathname;

/** A private 3-primary cluster (FAULTS_REDIS_CLUSTER_PORT, default 7111..7113); faults hit the primary owning `prefix`'s slot. */
export async function clusterRedis(prefix: string): Promise<RedisService> {
  const env = {
    ...process.env,
    REDIS_CLUSTER_PORT: process.env.FAULTS_REDIS_CLUSTER_PORT ?? '7111',
    REDIS_CLUSTER_DIR: `/tmp/mcprt-faults-redis-cluster-${process.pid}`,
  };
  const script = (...args: string[]) => execFileSync('bash', [SCRIPT, ...args], { env, encoding: 'utf8' }).trim();
  const url = script('start');
  process.once('exit', () => script('stop'));
  const first = Number(env.REDIS_CLUSTER_PORT);
  // Which primary serves the prefix's slot (CLUSTER KEYSLOT, then the node of that slot range).
  const probe = new Redis({ port: first, host: '127.0.0.1' });
  const slot = await probe.cluster('KEYSLOT', `${prefix}:x`);
  const ranges = (await probe.cluster('SLOTS')) as [number, number, [string, number, string]][];
  probe.disconnect();
  const port = ranges.find(([lo, hi]) => slot >= lo && slot <= hi)![2][1];
  const pid = () => Number(readFileSync(`${env.REDIS_CLUSTER_DIR}/${port}/redis.pid`, 'utf8'));
  const clusterOk = async (r: Redis) => /cluster_state:ok/.test(await r.cluster('INFO'));
  return {
    env: { REDIS_URL: url, REDIS_CLUSTER: 'true' },
    async kill() {
      try {
        process.kill(pid(), 'SIGKILL');
      } catch {
        return; // not running
      }
      await sleep(200); // the port closes with the process
    },
    async restart() {
      script('start-node', String(port));
      // Back in the cluster with its slots, as every node sees it.
      for (const p of [first, first + 1, first + 2]) await answers(p, clusterOk);
    },
    signal(sig) {
      try {
        process.kill(pid(), sig);
      } catch {
        // not running: nothing to stop or resume
      }
    },
    close: async () => void script('stop'),
  };
}
