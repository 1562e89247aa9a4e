import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(`${root}/${p}`, 'utf8');
/** The file without its comment lines (they may name what the file must not do). */
const code = (p: string) =>
  read(p)
    .split('\n')
    .filter((l) => !/^\s*#/.test(l))
    .join('\n');

/**
 * Issue 7 items 8, 12, 13: what ships (image, manifests, compose) keeps the rules that no Docker engine
 * or cluster here can exercise. production-build.test.ts runs the image's build and start itself.
 */
describe('deployment files', () => {
  it('the image is Node 22+, compiled, production dependencies only, non-root', () => {
    const docker = code('infra/Dockerfile');
    const froms = [...docker.matchAll(/^FROM node:(\d+)/gm)].map((m) => Number(m[1]));
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const major of froms) expect(major).toBeGreaterThanOrEqual(22);
    expect(docker).toMatch(/pnpm build/);
    expect(docker).toMatch(/deploy --prod/);
    expect(docker).not.toMatch(/tsx/);
    const final = docker.slice(docker.lastIndexOf('\nFROM '));
    expect(final).toMatch(/^USER 1000/m);
    expect(final).toMatch(/CMD \["node", "--conditions=mcprt-dist", "api\/dist\/main\.js"\]/);
    expect(final).not.toMatch(/pnpm install/);
    expect(read('.dockerignore')).toMatch(/node_modules/);
  });

  it('every k8s Deployment is locked down, bounded and probed, and the public Service has no metrics port', () => {
    const docs = code('infra/k8s/deployment.yaml').split(/^---$/m);
    const deployments = docs.filter((d) => /^kind: Deployment$/m.test(d));
    expect(deployments.length).toBe(2);
    for (const d of deployments) {
      for (const rule of [
        /runAsNonRoot: true/,
        /runAsUser: 1000/,
        /readOnlyRootFilesystem: true/,
        /allowPrivilegeEscalation: false/,
        /capabilities: \{ drop: \[ALL\] \}/,
        /requests: \{ cpu: \S+, memory: \S+ \}/,
        /limits: \{ cpu: \S+, memory: \S+ \}/,
        /livenessProbe:/,
        /readinessProbe:/,
        /command: \['node', '--conditions=mcprt-dist', '\w+\/dist\/main\.js'\]/,
      ]) {
        expect(d, String(rule)).toMatch(rule);
      }
      expect(d).not.toMatch(/tsx/);
    }
    const api = deployments.find((d) => d.includes('name: mcprt-api'))!;
    expect(api).toMatch(/path: \/readyz/);
    expect(api).toMatch(/path: \/healthz/);
    const service = docs.find((d) => /^kind: Service$/m.test(d))!;
    expect(service).toMatch(/targetPort: http/);
    expect(service).not.toMatch(/metrics|9464/);
  });

  it('docker compose runs the apps in production mode (no private egress, no insecure issuers)', () => {
    const compose = code('docker-compose.yml');
    expect(compose).toMatch(/^\s+NODE_ENV: production$/m);
    expect(compose).not.toMatch(/NODE_ENV: development/);
    expect(compose).not.toMatch(/ALLOW_INSECURE_ISSUERS|ENABLE_TEST_TOOLS/);
    expect(compose).not.toMatch(/tsx/);
    // Published ports are on the host's loopback only.
    for (const m of compose.matchAll(/'(\S+:)?\d+:\d+'/g)) expect(m[0]).toMatch(/^'127\.0\.0\.1:/);
  });

  it('Node: engines name 22 and 24, and the scripts take Node 22 from the npm registry when the machine has older', () => {
    const pkg = JSON.parse(read('package.json')) as { engines: { node: string }; scripts: Record<string, string> };
    expect(pkg.engines.node).toBe('^22.12.0 || ^24.0.0');
    expect(pkg.scripts.cli).toMatch(/^bash infra\/scripts\/with-node\.sh /);
    const useNode = read('infra/scripts/use-node.sh');
    expect(useNode).toMatch(/MCPRT_NODE_VERSION=22\.\d+\.\d+/);
    expect(useNode).toMatch(/npm pack .*node-linux-\$mcprt_arch@\$MCPRT_NODE_VERSION/);
    for (const f of ['.ci/run', 'infra/scripts/test.sh', 'infra/scripts/start.sh', 'infra/scripts/setup.sh'])
      expect(read(f), f).toMatch(/^source infra\/scripts\/use-node\.sh/m);
    // This very test runs on the Node the scripts chose.
    expect(Number(process.versions.node.split('.')[0])).toBeGreaterThanOrEqual(22);
  });

  it('native add-ons installed under this Node load (BullMQ packs jobs with msgpackr-extract)', () => {
    const fromBullmq = createRequire(createRequire(import.meta.url).resolve('bullmq'));
    const msgpackr = fromBullmq('msgpackr') as { isNativeAccelerationEnabled: boolean };
    expect(msgpackr.isNativeAccelerationEnabled).toBe(true);
  });
});
