import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const root = fileURLToPath(new URL('../..', import.meta.url));
const read = (p: string) => readFileSync(`${root}/${p}`, 'utf8');

/** A Dockerfile as its stages: each the FROM image and its instructions (continuation lines joined, comments dropped). */
function dockerStages(text: string): { from: string; steps: { op: string; args: string }[] }[] {
  const lines = text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'));
  const stages: { from: string; steps: { op: string; args: string }[] }[] = [];
  for (const line of lines) {
    const [op, ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (op!.toUpperCase() === 'FROM') stages.push({ from: args.split(/\s+/)[0]!, steps: [] });
    else stages.at(-1)!.steps.push({ op: op!.toUpperCase(), args });
  }
  return stages;
}

interface Probe {
  httpGet: { path: string; port: string };
}
interface Container {
  name: string;
  command?: string[];
  env?: { name: string; value: string }[];
  ports?: { name: string; containerPort: number }[];
  securityContext: { allowPrivilegeEscalation: boolean; readOnlyRootFilesystem: boolean; runAsNonRoot?: boolean; capabilities: { drop: string[] } };
  resources: { requests: { cpu: string | number; memory: string }; limits: { cpu: string | number; memory: string } };
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface PodSpec {
  automountServiceAccountToken: boolean;
  securityContext: { runAsNonRoot: boolean; runAsUser: number; seccompProfile: { type: string } };
  containers: Container[];
}
interface Manifest {
  kind: string;
  metadata: { name: string };
  spec: { template?: { spec: PodSpec }; ports?: { name: string; port: number; targetPort: string | number }[]; selector?: unknown };
}

const manifests = () => parseAllDocuments(read('infra/k8s/deployment.yaml')).map((d) => d.toJS() as Manifest);
const podOf = (m: Manifest) => m.spec.template!.spec;
const COMMAND = (app: string) => ['node', '--experimental-async-context-frame', '--conditions=mcprt-dist', `${app}/dist/main.js`];

/**
 * What ships (image, manifests, compose) keeps the rules that no Docker engine or cluster here can
 * exercise: the files are parsed and what they mean is checked. production-build.test.ts runs the
 * image's build and start itself.
 */
describe('deployment files', () => {
  it('the image is Node 22+, compiled, production dependencies only, non-root, and starts the API with plain node', () => {
    const stages = dockerStages(read('infra/Dockerfile'));
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const { from } of stages) expect(Number(/^node:(\d+)/.exec(from)?.[1])).toBeGreaterThanOrEqual(22);
    const build = stages.slice(0, -1).flatMap((st) => st.steps);
    const runs = build.filter((st) => st.op === 'RUN').map((st) => st.args);
    expect(runs.some((r) => /\bpnpm build\b/.test(r))).toBe(true);
    for (const app of ['api', 'worker'])
      expect(
        runs.some((r) => new RegExp(`--filter @mcprt/${app} deploy --prod`).test(r)),
        app,
      ).toBe(true);
    const final = stages.at(-1)!.steps;
    // Only the two deployed apps are copied in; nothing is installed in the final stage.
    expect(final.filter((st) => st.op === 'COPY').map((st) => st.args.split(/\s+/).at(-1))).toEqual(['./api', './worker']);
    expect(final.filter((st) => st.op === 'RUN')).toEqual([]);
    expect(final.filter((st) => st.op === 'USER').map((st) => st.args.split(':')[0])).toEqual(['1000']);
    const cmd = final.filter((st) => st.op === 'CMD');
    expect(cmd).toHaveLength(1);
    expect(JSON.parse(cmd[0]!.args)).toEqual(COMMAND('api'));
    expect(final.map((st) => st.args).join('\n')).not.toMatch(/\btsx\b/);
    expect(read('.dockerignore').split('\n')).toEqual(expect.arrayContaining(['**/node_modules']));
  });

  it('every k8s Deployment runs its app as non-root, locked down, bounded and probed', () => {
    const deployments = manifests().filter((m) => m.kind === 'Deployment');
    expect(deployments.map((d) => d.metadata.name).sort()).toEqual(['mcprt-api', 'mcprt-worker']);
    for (const d of deployments) {
      const pod = podOf(d);
      expect(pod.automountServiceAccountToken, d.metadata.name).toBe(false);
      expect(pod.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } });
      expect(pod.containers).toHaveLength(1);
      const c = pod.containers[0]!;
      expect(c.command, d.metadata.name).toEqual(COMMAND(d.metadata.name.replace('mcprt-', '')));
      expect(c.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
      expect(c.securityContext.runAsNonRoot ?? true).toBe(true);
      for (const bound of [c.resources.requests, c.resources.limits]) {
        expect(String(bound.cpu)).toMatch(/^\d+(m|\.\d+)?$/);
        expect(bound.memory).toMatch(/^\d+(Mi|Gi)$/);
      }
      expect(env(c).NODE_ENV).toBe('production');
      // Both probes ask a port the container declares.
      const ports = (c.ports ?? []).map((p) => p.name);
      for (const probe of [c.livenessProbe, c.readinessProbe]) {
        expect(probe, d.metadata.name).toBeDefined();
        expect(ports).toContain(probe!.httpGet.port);
      }
    }
    const api = podOf(deployments.find((d) => d.metadata.name === 'mcprt-api')!).containers[0]!;
    expect(api.readinessProbe!.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(api.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'http' });
    const worker = podOf(deployments.find((d) => d.metadata.name === 'mcprt-worker')!).containers[0]!;
    // The worker has no HTTP API: its probes ask its metrics listener, on the port it is told to use.
    expect(worker.livenessProbe!.httpGet).toEqual({ path: '/healthz', port: 'metrics' });
    expect(String(worker.ports!.find((p) => p.name === 'metrics')!.containerPort)).toBe(env(worker).WORKER_METRICS_PORT);
  });

  it('the migrate Job runs the migrations as non-root with the owner secret; the public Service exposes only the MCP port', () => {
    const all = manifests();
    const job = all.find((m) => m.kind === 'Job')!;
    const migrate = podOf(job).containers[0]!;
    expect(migrate.command).toEqual(['node', '--conditions=mcprt-dist', 'api/node_modules/@mcprt/db/dist/migrate-cli.js']);
    expect(podOf(job).securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 1000 });
    const service = all.find((m) => m.kind === 'Service')!;
    expect(service.spec.ports).toEqual([{ name: 'http', port: 80, targetPort: 'http' }]);
    const api = podOf(all.find((m) => m.kind === 'Deployment' && m.metadata.name === 'mcprt-api')!).containers[0]!;
    const http = api.ports!.find((p) => p.name === 'http')!;
    expect(http.containerPort).not.toBe(Number(env(api).METRICS_PORT));
  });

  it('docker compose runs the apps in production mode (no private egress, no insecure issuers), on loopback ports only', () => {
    const compose = parse(read('docker-compose.yml'), { merge: true }) as {
      services: Record<string, { command?: string[]; environment?: Record<string, string>; ports?: string[]; read_only?: boolean; cap_drop?: string[] }>;
    };
    for (const name of ['api', 'worker']) {
      const svc = compose.services[name]!;
      expect(svc.environment?.NODE_ENV, name).toBe('production');
      expect(Object.keys(svc.environment ?? {})).not.toEqual(expect.arrayContaining(['ALLOW_INSECURE_ISSUERS']));
      expect(Object.keys(svc.environment ?? {})).not.toEqual(expect.arrayContaining(['ENABLE_TEST_TOOLS']));
      expect(svc.read_only, name).toBe(true);
      expect(svc.cap_drop, name).toEqual(['ALL']);
    }
    expect(compose.services.worker!.command).toEqual(COMMAND('worker'));
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const port of svc.ports ?? []) expect(port, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      expect(JSON.stringify(svc.command ?? []), name).not.toMatch(/\btsx\b/);
    }
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

/** A container's env entries as a map. */
function env(c: Container): Record<string, string> {
  return Object.fromEntries((c.env ?? []).map((e) => [e.name, String(e.value)]));
}
