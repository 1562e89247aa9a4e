import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

/**
 * The local observability stack (`docker compose --profile observability`) as files: no Docker engine
 * here, so each config is parsed and every reference between them is followed — mounted files exist,
 * scrape targets are compose services on the port the process is told to serve metrics on, the
 * collector's pipelines use components it defines, the rule files Prometheus loads are the ones in the
 * repo, Grafana's datasource is the one the dashboard names. What this cannot show (the images start,
 * a trace reaches Jaeger) is said in docs/operations.md, "Local observability stack".
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const readYaml = (p: string) => parse(readFileSync(join(root, p), 'utf8'), { merge: true }) as unknown;

interface Service {
  profiles?: string[];
  image?: string;
  environment?: Record<string, string>;
  volumes?: string[];
  ports?: string[];
  depends_on?: string[] | Record<string, unknown>;
}
interface Compose {
  services: Record<string, Service>;
}
interface Collector {
  receivers?: Record<string, unknown>;
  processors?: Record<string, unknown>;
  exporters?: Record<string, { endpoint?: string }>;
  extensions?: Record<string, unknown>;
  service: { extensions?: string[]; pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }> };
}
interface PromConfig {
  rule_files?: string[];
  scrape_configs: { job_name: string; static_configs?: { targets: string[] }[]; dns_sd_configs?: { names: string[]; port: number }[] }[];
}

/** Container path → repo path of a service's bind mounts (`./host:/container[:ro]`). */
function mounts(svc: Service): Map<string, string> {
  const out = new Map<string, string>();
  for (const v of svc.volumes ?? []) {
    const [host, container] = v.split(':') as [string, string];
    if (host.startsWith('./')) out.set(container, host.slice(2));
  }
  return out;
}

/** The repo file a container path resolves to through the mounts (a file mount, or a file under a mounted directory). */
function hostPathOf(svc: Service, containerPath: string): string | undefined {
  for (const [c, h] of mounts(svc)) {
    if (containerPath === c) return h;
    if (containerPath.startsWith(`${c}/`)) return `${h}${containerPath.slice(c.length)}`;
  }
  return undefined;
}

/** What is wrong with a collector config: pipeline components or extensions it does not define, an empty pipeline. */
function collectorProblems(c: Collector): string[] {
  const problems: string[] = [];
  for (const [name, p] of Object.entries(c.service.pipelines)) {
    const kind = (section: 'receivers' | 'processors' | 'exporters') => {
      for (const id of p[section] ?? []) if (!(id in (c[section] ?? {}))) problems.push(`pipeline ${name}: ${section.slice(0, -1)} ${id} is not defined`);
    };
    kind('receivers');
    kind('processors');
    kind('exporters');
    if (!p.receivers.length || !p.exporters.length) problems.push(`pipeline ${name}: needs a receiver and an exporter`);
  }
  for (const id of c.service.extensions ?? []) if (!(id in (c.extensions ?? {}))) problems.push(`extension ${id} is not defined`);
  return problems;
}

const compose = () => readYaml('docker-compose.yml') as Compose;
const observability = () => Object.entries(compose().services).filter(([, s]) => s.profiles?.includes('observability'));

describe('the observability profile of docker-compose.yml', () => {
  it('adds a collector, Jaeger, Prometheus and Grafana, only under the profile, pinned images, loopback ports, mounts that exist', () => {
    const services = observability();
    expect(services.map(([n]) => n).sort()).toEqual(['grafana', 'jaeger', 'otel-collector', 'prometheus']);
    // The default `docker compose up` is unchanged: the apps and their dependencies carry no profile.
    for (const name of ['postgres', 'redis', 'migrate', 'api', 'worker']) expect(compose().services[name]!.profiles, name).toBeUndefined();
    for (const [name, svc] of services) {
      expect(svc.image, name).toMatch(/:v?\d+\.\d+\.\d+$/);
      for (const p of svc.ports ?? []) expect(p, name).toMatch(/^127\.0\.0\.1:\d+:\d+$/);
      for (const [container, host] of mounts(svc)) expect(existsSync(join(root, host)), `${name}: ${host} (→ ${container})`).toBe(true);
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const d of deps) expect(Object.keys(compose().services), `${name} depends on ${d}`).toContain(d);
    }
  });

  it('the collector: OTLP in, every pipeline uses defined components, traces exported to the Jaeger service over OTLP', () => {
    const svc = compose().services['otel-collector']!;
    const configPath = hostPathOf(svc, '/etc/otelcol/config.yaml');
    expect(configPath).toBe('infra/observability/otel-collector.yaml');
    const c = readYaml(configPath!) as Collector;
    expect(collectorProblems(c)).toEqual([]);
    expect(c.service.pipelines.traces!.receivers).toEqual(['otlp']);
    const traceExporters = c.service.pipelines.traces!.exporters.map((id) => c.exporters![id]!.endpoint);
    expect(traceExporters).toEqual(['jaeger:4317']);
    expect(compose().services.jaeger!.environment?.COLLECTOR_OTLP_ENABLED).toBe('true');
    // The apps reach the collector's OTLP/HTTP port by its service name (docs and compose comment).
    expect(svc.ports).toEqual(expect.arrayContaining(['127.0.0.1:4318:4318']));
  });

  it('a collector config naming an undefined exporter or extension is reported (the check can fail)', () => {
    const c = readYaml('infra/observability/otel-collector.yaml') as Collector;
    c.service.pipelines.traces!.exporters = ['otlp/tempo'];
    c.service.extensions = ['pprof'];
    expect(collectorProblems(c)).toEqual(['pipeline traces: exporter otlp/tempo is not defined', 'extension pprof is not defined']);
  });

  it('Prometheus: loads the repo alert rules, scrapes the API and every worker on the port each is told to serve metrics on', () => {
    const services = compose().services;
    const svc = services.prometheus!;
    const cfg = readYaml(hostPathOf(svc, '/etc/prometheus/prometheus.yml')!) as PromConfig;
    expect(cfg.rule_files!.map((f) => hostPathOf(svc, f))).toEqual(['infra/observability/prometheus/alerts.yml']);
    const job = (name: string) => cfg.scrape_configs.find((j) => j.job_name === name)!;
    // The alert rules and the dashboard select these job names.
    const api = services.api!.environment!;
    expect(job('mcprt-api').static_configs![0]!.targets).toEqual([`api:${api.METRICS_PORT}`]);
    expect(api.METRICS_HOST).toBe('0.0.0.0');
    const worker = services.worker!.environment!;
    expect(job('mcprt-worker').dns_sd_configs).toEqual([{ names: ['worker'], type: 'A', port: Number(worker.WORKER_METRICS_PORT) }]);
    expect(worker.HOST).toBe('0.0.0.0');
    const collector = readYaml('infra/observability/otel-collector.yaml') as Collector;
    expect(job('otel-collector').static_configs![0]!.targets).toEqual([`otel-collector:${collector.exporters!.prometheus!.endpoint!.split(':')[1]}`]);
    for (const j of cfg.scrape_configs) {
      const hosts = [...(j.static_configs ?? []).flatMap((s) => s.targets.map((t) => t.split(':')[0]!)), ...(j.dns_sd_configs ?? []).flatMap((d) => d.names)];
      for (const h of hosts) expect(Object.keys(services), `${j.job_name}: ${h}`).toContain(h);
    }
  });

  it('Prometheus: promtool check config accepts the config with its rule file', () => {
    if (!existsSync('/usr/bin/promtool') && process.env.CI !== 'true') return; // .ci/run installs it
    const dir = mkdtempSync(join(tmpdir(), 'mcprt-prom-'));
    try {
      // The same config, with the rule file at its repo path instead of the container's.
      const text = readFileSync(join(root, 'infra/observability/prometheus/prometheus.yml'), 'utf8').replace(
        '/etc/prometheus/alerts.yml',
        join(root, 'infra/observability/prometheus/alerts.yml'),
      );
      writeFileSync(join(dir, 'prometheus.yml'), text);
      const out = execFileSync('promtool', ['check', 'config', join(dir, 'prometheus.yml')], { encoding: 'utf8' });
      expect(out).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('Grafana: the provisioned datasource is the one the dashboard names, and the dashboard folder is the mounted one', () => {
    const svc = compose().services.grafana!;
    const ds = readYaml(hostPathOf(svc, '/etc/grafana/provisioning/datasources/datasources.yml')!) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    const prom = ds.datasources.find((d) => d.type === 'prometheus')!;
    expect(prom.url).toBe('http://prometheus:9090');
    expect(compose().services.prometheus!.ports).toEqual(['127.0.0.1:9090:9090']);
    const jaeger = ds.datasources.find((d) => d.type === 'jaeger')!;
    expect(new URL(jaeger.url).hostname).toBe('jaeger');
    const providers = readYaml(hostPathOf(svc, '/etc/grafana/provisioning/dashboards/dashboards.yml')!) as { providers: { options: { path: string } }[] };
    const dashboardsDir = hostPathOf(svc, providers.providers[0]!.options.path);
    expect(dashboardsDir).toBe('infra/observability/grafana/dashboards');
    const home = hostPathOf(svc, svc.environment!.GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH!)!;
    const dash = JSON.parse(readFileSync(join(root, home), 'utf8')) as { panels: { datasource?: { uid: string } }[] };
    const uids = new Set(dash.panels.flatMap((p) => (p.datasource ? [p.datasource.uid] : [])));
    expect([...uids]).toEqual([prom.uid]);
  });
});
