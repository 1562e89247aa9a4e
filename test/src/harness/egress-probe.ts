import { createOutbound } from '@mcprt/identity';
import { egressAllowsPrivate, loadConfig } from '@mcprt/config';

/**
 * A child process (egress-ca.test.ts) that builds its outbound egress exactly as the API and the
 * worker do — configuration from the environment, `createOutbound` — requests every URL given as an
 * argument and prints one JSON line: per URL, the status or the error code and its TLS cause. Run as
 * its own process because Node reads `NODE_EXTRA_CA_CERTS` only when a process starts.
 */
const config = loadConfig(process.env);
const { egress } = createOutbound({ ...config, allowPrivate: egressAllowsPrivate(config) });
const out: Record<string, { status?: number; error?: string; cause?: string }> = {};
for (const url of process.argv.slice(2)) {
  try {
    const res = await egress.request(url, { signal: AbortSignal.timeout(10_000), service: 'probe' });
    await res.text();
    out[url] = { status: res.status };
  } catch (e) {
    const err = e as { code?: string; cause?: { code?: string; cause?: { code?: string } } };
    out[url] = { error: err.code ?? String(e), cause: err.cause?.code ?? err.cause?.cause?.code ?? '' };
  }
}
await egress.close();
process.stdout.write(`${JSON.stringify(out)}\n`);
