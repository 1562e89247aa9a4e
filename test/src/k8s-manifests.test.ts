import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { loadConfig } from '@mcprt/config';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { createMetrics } from '@mcprt/observability';
import { redisKeys } from '@mcprt/redis';
import { QueueKeys } from 'bullmq';
import { Deployment } from 'kubernetes-models/apps/v1';
import { HorizontalPodAutoscaler } from 'kubernetes-models/autoscaling/v2';
import { Job } from 'kubernetes-models/batch/v1';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1';
import { Service } from 'kubernetes-models/v1';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { exportedSeriesNames, metricNamesOf } from './harness/promql.js';

/**
 * The Kubernetes manifests under infra/k8s, validated against the Kubernetes and KEDA schemas
 * (kubernetes-models and @kubernetes-models/keda: the OpenAPI schemas of the API server and of KEDA's
 * CRDs, with ajv), then checked against the product: the list KEDA watches is the queue's wait list,
 * the age query names a metric the API exports, the grace periods hold the drain.
 */
const dir = fileURLToPath(new URL('../../infra/k8s', import.meta.url));

interface Validatable {
  validate(): void;
}
type Model = new (data: never) => Validatable;
const MODELS: Record<string, Model> = {
  'batch/v1 Job': Job as Model,
  'apps/v1 Deployment': Deployment as Model,
  'v1 Service': Service as Model,
  'autoscaling/v2 HorizontalPodAutoscaler': HorizontalPodAutoscaler as Model,
  'policy/v1 PodDisruptionBudget': PodDisruptionBudget as Model,
  'keda.sh/v1alpha1 ScaledObject': ScaledObject as Model,
  'keda.sh/v1alpha1 TriggerAuthentication': TriggerAuthentication as Model,
};

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are checked field by field below
type Manifest = { apiVersion: string; kind: string; metadata: { name: string }; spec: any };

/** Validate one manifest against its schema; throws with the schema's complaints. */
function validate(m: Manifest): void {
  const Model = MODELS[`${m.apiVersion} ${m.kind}`];
  if (!Model) throw new Error(`no schema for ${m.apiVersion} ${m.kind}`);
  new Model(m as never).validate();
}

const kustomization = () => parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as { resources: string[] };
const manifests = (): Manifest[] =>
  kustomization().resources.flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), 'utf8')).map((d) => d.toJS() as Manifest));
const find = (kind: string, name: string) => manifests().find((m) => m.kind === kind && m.metadata.name === name)!;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
const containerOf = (name: string): any => find('Deployment', name).spec.template.spec.containers[0];
const envOf = (c: { env?: { name: string; value: string }[] }) => Object.fromEntries((c.env ?? []).map((e) => [e.name, e.value]));
// The defaults of the one configuration schema (the two required values are placeholders here).
const defaults = loadConfig({ PUBLIC_URL: 'https://mcp.example.com', SEAL_KEYS: `k1:${Buffer.alloc(32, 1).toString('base64url')}` });

describe('Kubernetes manifests', () => {
  it('kustomization lists every manifest file, and every document validates against its Kubernetes or KEDA schema', () => {
    const files = readdirSync(dir).filter((f) => f.endsWith('.yaml') && f !== 'kustomization.yaml');
    expect([...kustomization().resources].sort()).toEqual(files.sort());
    const all = manifests();
    expect(all.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      'Deployment/mcprt-api',
      'Deployment/mcprt-worker',
      'HorizontalPodAutoscaler/mcprt-api',
      'Job/mcprt-migrate',
      'PodDisruptionBudget/mcprt-api',
      'ScaledObject/mcprt-worker',
      'Service/mcprt-api',
      'TriggerAuthentication/mcprt-redis',
    ]);
    for (const m of all) expect(() => validate(m), `${m.kind}/${m.metadata.name}`).not.toThrow();
  });

  it('a broken manifest is rejected by the same validation', () => {
    const api = find('Deployment', 'mcprt-api');
    api.spec.template.spec.containers[0].ports[0].containerPort = 'http';
    expect(() => validate(api)).toThrow(/containerPort must be integer/);
    const hpa = find('HorizontalPodAutoscaler', 'mcprt-api');
    delete hpa.spec.maxReplicas;
    expect(() => validate(hpa)).toThrow(/maxReplicas/);
    const so = find('ScaledObject', 'mcprt-worker');
    delete so.spec.triggers[0].type;
    so.spec.minReplicaCount = 'two';
    expect(() => validate(so)).toThrow(/required property 'type'|minReplicaCount must be integer/);
    expect(() => validate({ ...so, apiVersion: 'keda.sh/v1beta9' })).toThrow(/no schema/);
  });

  it('the API HPA and the worker ScaledObject scale the Deployments that exist', () => {
    const hpa = find('HorizontalPodAutoscaler', 'mcprt-api');
    expect(hpa.spec.scaleTargetRef).toEqual({ apiVersion: 'apps/v1', kind: 'Deployment', name: 'mcprt-api' });
    expect(hpa.spec.minReplicas).toBeGreaterThanOrEqual(2);
    // CPU utilisation needs a CPU request on the container.
    expect(containerOf('mcprt-api').resources.requests.cpu).toBeDefined();
    const so = find('ScaledObject', 'mcprt-worker');
    expect(find('Deployment', so.spec.scaleTargetRef.name)).toBeDefined();
    const auth = so.spec.triggers.find((t: { type: string }) => t.type === 'redis').authenticationRef.name;
    expect(find('TriggerAuthentication', auth)).toBeDefined();
  });

  it("KEDA's redis trigger watches BullMQ's wait list of the tool-call queue, under the default QUEUE_PREFIX", () => {
    const so = find('ScaledObject', 'mcprt-worker');
    const redis = so.spec.triggers.find((t: { type: string }) => t.type === 'redis');
    // The queue's prefix is the one every Redis key uses; BullMQ 6 builds the wait list's name from it.
    const wait = new QueueKeys(redisKeys(defaults.QUEUE_PREFIX).queuePrefix).getKeys(TOOL_CALLS_QUEUE).wait;
    expect(wait).toBe('{mcprt}:tool-calls:wait');
    expect(redis.metadata.listName).toBe(wait);
    expect(Number(redis.metadata.listLength)).toBeGreaterThan(0);
    // The worker does not override the prefix (it would move the list).
    expect(envOf(containerOf('mcprt-worker')).QUEUE_PREFIX).toBeUndefined();
  });

  it("KEDA's prometheus trigger queries the oldest-job age the API exports", async () => {
    const so = find('ScaledObject', 'mcprt-worker');
    const prom = so.spec.triggers.find((t: { type: string }) => t.type === 'prometheus');
    const metrics = createMetrics('api');
    metrics.sampled.queue(() => Promise.resolve({ counts: { wait: 0 }, oldestWaitingSeconds: 0 }));
    const exported = exportedSeriesNames(await metrics.registry.metrics());
    const names = metricNamesOf(prom.metadata.query);
    expect(names).toEqual(['mcprt_queue_oldest_waiting_seconds']);
    for (const n of names) expect(exported.has(n), n).toBe(true);
    expect(Number(prom.metadata.threshold)).toBeGreaterThan(0);
  });

  it('metrics ports, probes and the drain: the grace period holds preStop + SHUTDOWN_GRACE_MS', () => {
    const grace = defaults.SHUTDOWN_GRACE_MS / 1000;
    const api = find('Deployment', 'mcprt-api').spec.template;
    const c = containerOf('mcprt-api');
    const ports = Object.fromEntries(c.ports.map((p: { name: string; containerPort: number }) => [p.name, p.containerPort]));
    expect(ports.metrics).toBe(Number(envOf(c).METRICS_PORT));
    expect(envOf(c).METRICS_HOST).toBe('0.0.0.0');
    expect(api.metadata.annotations['prometheus.io/port']).toBe(String(ports.metrics));
    // The drain protocol (docs/operations.md): readiness on /readyz (503 while draining), liveness on /healthz.
    expect(c.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(c.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    const preStop = c.lifecycle.preStop.sleep.seconds as number;
    expect(preStop).toBeGreaterThanOrEqual(5);
    expect(envOf(c).SHUTDOWN_GRACE_MS).toBeUndefined(); // the default, as `grace` above
    expect(api.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(preStop + grace + 5);
    const worker = find('Deployment', 'mcprt-worker').spec.template;
    const w = containerOf('mcprt-worker');
    expect(w.ports.find((p: { name: string }) => p.name === 'metrics').containerPort).toBe(Number(envOf(w).WORKER_METRICS_PORT));
    expect(worker.metadata.annotations['prometheus.io/port']).toBe(envOf(w).WORKER_METRICS_PORT);
    expect(worker.spec.terminationGracePeriodSeconds).toBeGreaterThanOrEqual(grace + 5);
    // The public Service never exposes the metrics port.
    expect(find('Service', 'mcprt-api').spec.ports.map((p: { targetPort: string }) => p.targetPort)).toEqual(['http']);
  });
});
