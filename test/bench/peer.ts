/**
 * The peer (./peer-server.ts) as the bench runs it: its own OS process, like the API, trusting an
 * issuer whose ES256 key this process holds; the bench's users get 1 h tokens from that issuer
 * (audience: the peer's MCP URL). Driven by the same load client, in the same era, as the e2e path.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { freePort } from '../src/harness/free-port.js';
import { checkedCall, emptyStats, rawCaller, type Caller } from './load.js';
import { CLIENTS, USERS } from './settings.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const ISSUER = 'https://bench-peer-issuer.example';

export interface Peer {
  pid: number;
  mcpUrl: string;
  clients: Caller[];
  stop(): Promise<boolean>;
}

/**
 * Our peer (./peer-server.ts), or another one: BENCH_PEER_COMMAND, a shell command run from the
 * repository's root, starts any server that keeps the same contract — it reads PEER_PORT,
 * PEER_ISSUER, PEER_AUDIENCE and PEER_JWKS (see ./peer-server.ts), checks the bearer JWT of every
 * request against them, serves an `echo` tool whose `{message}` comes back as `structuredContent`
 * at `/mcp` in the era the bench speaks, and prints `peer listening on <url>` once ready. So a peer
 * written independently of ours is measured in the same run, by the same load client.
 */
function spawnPeer(env: Record<string, string>): Promise<{ child: ChildProcess; output: () => string }> {
  const command = process.env.BENCH_PEER_COMMAND;
  const [file, args] = command ? ['/bin/sh', ['-c', `exec ${command}`]] : [process.execPath, ['--import', 'tsx', 'test/bench/peer-server.ts']];
  const child = spawn(file, args, {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  let out = '';
  child.stderr!.on('data', (b: Buffer) => (out = (out + b.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`peer not ready after 90 s: ${out}`)), 90_000);
    child.stdout!.on('data', (b: Buffer) => {
      out = (out + b.toString()).slice(-4000);
      if (out.includes('peer listening on')) {
        clearTimeout(timer);
        resolve({ child, output: () => out });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`peer exited early (${code}): ${out}`));
    });
  });
}

export async function startPeer(): Promise<Peer> {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'bench-1', alg: 'ES256', use: 'sig' };
  const port = await freePort();
  const mcpUrl = `http://127.0.0.1:${port}/mcp`;
  const { child, output } = await spawnPeer({
    PEER_PORT: String(port),
    PEER_ISSUER: ISSUER,
    PEER_AUDIENCE: mcpUrl,
    PEER_JWKS: JSON.stringify({ keys: [jwk] }),
  });
  const tokens = await Promise.all(
    USERS.map((sub) =>
      new SignJWT({ scope: 'mcp', client_id: `bench-${sub}` })
        .setProtectedHeader({ alg: 'ES256', kid: jwk.kid, typ: 'at+jwt' })
        .setIssuer(ISSUER)
        .setAudience(mcpUrl)
        .setSubject(sub)
        .setIssuedAt()
        .setExpirationTime('1h')
        .sign(privateKey),
    ),
  );
  const clients = Array.from({ length: CLIENTS }, (_, i) => rawCaller(mcpUrl, () => tokens[i % tokens.length]!));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return false;
    child.kill('SIGTERM');
    const code = await Promise.race([
      new Promise<number | null>((r) => child.once('exit', r)),
      new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref()),
    ]);
    if (code === 0) return true;
    if (code === 'timeout') child.kill('SIGKILL');
    process.stderr.write(`peer did not stop cleanly (${code}): ${output().slice(-1000)}\n`);
    return false;
  };
  // Its answers are checked like the e2e path's (every measured call is); a first one here fails fast.
  const probe = emptyStats();
  await checkedCall(clients[0]!, 0, probe);
  if (probe.errors) {
    await stop();
    throw new Error(`peer probe failed: ${probe.errorSamples.join(' | ')}`);
  }
  return { pid: child.pid!, mcpUrl, clients, stop };
}
