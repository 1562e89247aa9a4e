import { createServer } from 'node:http';
import { describe, expect, it } from 'vitest';
import { createEgress, isPrivateAddress, upstreamStatusError } from './egress.js';

describe('egress', () => {
  it('classifies private and loopback addresses', () => {
    for (const ip of ['127.0.0.1', '10.1.2.3', '172.16.0.1', '192.168.1.1', '169.254.169.254', '::1', 'fd00::1', '::ffff:127.0.0.1', '100.64.0.1'])
      expect(isPrivateAddress(ip)).toBe(true);
    for (const ip of ['8.8.8.8', '172.32.0.1', '2606:4700::1111']) expect(isPrivateAddress(ip)).toBe(false);
  });

  it('refuses private addresses unless allowed (SSRF to metadata services, DESIGN §5)', async () => {
    const egress = createEgress({ allowPrivate: false });
    await expect(egress.request('http://127.0.0.1:9/x', { signal: new AbortController().signal, service: 'Test' })).rejects.toMatchObject({
      code: 'egress_refused',
    });
    await expect(egress.request('http://169.254.169.254/latest', { signal: new AbortController().signal, service: 'Test' })).rejects.toMatchObject({
      code: 'egress_refused',
    });
    await expect(egress.request('file:///etc/passwd', { signal: new AbortController().signal, service: 'Test' })).rejects.toMatchObject({
      code: 'egress_refused',
    });
  });

  it('times out, and follows redirects only a few hops', async () => {
    const server = createServer((req, res) => {
      if (req.url === '/slow') return void setTimeout(() => res.end('{}'), 2_000);
      res.writeHead(302, { location: '/loop' }).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
    const egress = createEgress({ allowPrivate: true, maxRedirects: 2 });
    await expect(egress.request(`${base}/slow`, { signal: new AbortController().signal, service: 'Test', timeoutMs: 100 })).rejects.toMatchObject({
      code: 'upstream_timeout',
      retryable: true,
    });
    await expect(egress.request(`${base}/loop`, { signal: new AbortController().signal, service: 'Test' })).rejects.toMatchObject({
      code: 'upstream_redirect_loop',
    });
    server.closeAllConnections();
    server.close();
  });

  it('sorts upstream statuses: 429 and 5xx retry, other 4xx fail at once', () => {
    expect(upstreamStatusError('X', 429).retryable).toBe(true);
    expect(upstreamStatusError('X', 503).retryable).toBe(true);
    expect(upstreamStatusError('X', 400).retryable).toBe(false);
    expect(upstreamStatusError('X', 401)).toMatchObject({ code: 'upstream_unauthorized', retryable: false, expose: true });
  });
});
