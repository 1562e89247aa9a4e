import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';

/**
 * Ports are picked below the kernel's ephemeral range. A port the kernel hands out for `listen(0)` is
 * also one it hands out as the local port of an outgoing connection (to Postgres, Redis, the IdP): in
 * the moment between finding it free and the API listening on it, one of the many connections the
 * parallel test files open could take it, and the API's `listen` failed with EADDRINUSE. Below the
 * ephemeral range only another explicit `listen` can take a port, and each vitest worker (and each
 * process outside vitest) draws from a band of its own, walking it in order from a random start.
 */
const BANDS = 32;
// Above Redis Cluster bus ports (a node's port + 10000: 16379, 17101–17113 in the cluster tests).
const FIRST = 18_000;
const [low, high] = ((): [number, number] => {
  try {
    const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
    if (ephemeralLow && ephemeralLow > 20_000) return [FIRST, Math.min(ephemeralLow, 32_768) - 1];
  } catch {
    // Not Linux: no band below the ephemeral range is known; fall back to the kernel's choice.
  }
  return [0, 0];
})();
const bandSize = Math.floor((high - low) / BANDS);
const pool = Number(process.env.VITEST_POOL_ID ?? process.pid) % BANDS;
let cursor = Math.floor(Math.random() * bandSize);

function tryListen(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.unref();
    s.once('error', () => resolve(undefined));
    s.listen(port, '127.0.0.1', () => {
      const bound = (s.address() as { port: number }).port;
      s.close(() => resolve(bound));
    });
  });
}

/** An unused loopback port (the API's public URL must be known before it starts: it is the token audience). */
export async function freePort(): Promise<number> {
  if (bandSize > 0) {
    for (let tries = 0; tries < bandSize; tries += 1) {
      const port = low + pool * bandSize + (cursor++ % bandSize);
      const bound = await tryListen(port);
      if (bound !== undefined) return bound;
    }
  }
  const bound = await tryListen(0);
  if (bound === undefined) throw new Error('no free loopback port');
  return bound;
}
