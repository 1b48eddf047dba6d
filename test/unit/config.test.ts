import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig, logFileOf } from '../../src/config/config-loader.js';
import { ConfigError } from '../../src/domain/errors/index.js';

function dirWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-config-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    assert.ok(error instanceof ConfigError, `expected a ConfigError, got ${String(error)}`);
    return error;
  }
  assert.fail('expected a ConfigError');
}

describe('configuration', () => {
  it('loads the shipped files with the seed keys and defaults', () => {
    const { config, sources } = loadConfig({ env: {} });
    assert.equal(sources.length, 1);
    assert.equal(config.server.port, 8080);
    assert.equal(config.sequence.core['global-counter-start'], 1);
    assert.equal(config.sequence.core['gap-recovery-enabled'], true);
    assert.equal(config.sequence.etcd['data-directory'], 'data/etcd-cluster');
    assert.deepEqual(config.sequence.sites.map((s) => s.id), ['site-1', 'site-2']);
    assert.deepEqual(config.sequence.sites[0]?.partitions, ['partition-a', 'partition-b']);
    assert.equal(config.sequence['invoice-types'].simulated.enabled, true);
  });

  it('overlays the profile on the base, then --config, env and flags', () => {
    const dir = dirWith({
      'application.yml': 'server: {port: 1000}\nsequence: {core: {max-count: 5, gap-recovery-enabled: true}}\n',
      'application-x.yml': 'sequence: {core: {gap-recovery-enabled: false}}\n',
    });
    const extra = join(dir, 'extra.yml');
    writeFileSync(extra, 'sequence: {core: {max-count: 7}}\n');
    const env = { SEQ_PROFILE: 'x', SEQ_PORT: '2000', SEQ_DATA_DIR: '/tmp/from-env' };
    const a = loadConfig({ configDir: dir, env, configFile: extra }).config;
    assert.equal(a.sequence.core['gap-recovery-enabled'], false, 'profile from SEQ_PROFILE');
    assert.equal(a.sequence.core['max-count'], 7, '--config overlays the profile');
    assert.equal(a.server.port, 2000, 'SEQ_PORT overrides the files');
    assert.equal(a.sequence['data-dir'], '/tmp/from-env');
    const b = loadConfig({ configDir: dir, env, port: 3000, dataDir: '/tmp/flag' }).config;
    assert.equal(b.server.port, 3000, 'the flag overrides SEQ_PORT');
    assert.equal(b.sequence['data-dir'], '/tmp/flag');
  });

  it('takes what differs per container from the environment: advertise URL, etcd endpoints and password', () => {
    const dir = dirWith({ 'application.yml': 'sequence: {storage: etcd, etcd: {embedded: false, endpoints: ["http://file:2379"]}}\n' });
    const env = { SEQ_INTERNAL_PORT: '9081', SEQ_ADVERTISE_URL: 'https://10.1.2.3:8081', SEQ_ETCD_ENDPOINTS: 'https://etcd-0.etcd:2379, https://etcd-1.etcd:2379', SEQ_ETCD_PASSWORD: 's3cret' };
    const c = loadConfig({ configDir: dir, env }).config;
    assert.equal(c.server['advertise-url'], 'https://10.1.2.3:8081');
    assert.equal(c.server['internal-port'], 9081);
    assert.deepEqual(c.sequence.etcd.endpoints, ['https://etcd-0.etcd:2379', 'https://etcd-1.etcd:2379'], 'replaces the file\'s list');
    assert.equal(c.sequence.etcd.password, 's3cret');
    assert.equal(configError(() => loadConfig({ configDir: dir, env: { SEQ_ETCD_ENDPOINTS: 'etcd-0:2379' } })).key, 'sequence.etcd.endpoints[0]');
  });

  it('ships the poc and ha-poc profiles', () => {
    assert.equal(loadConfig({ profile: 'poc', env: {} }).config.sequence.storage, 'sqlite');
    const ha = loadConfig({ profile: 'ha-poc', env: {} }).config;
    assert.equal(ha.sequence.storage, 'etcd');
    assert.equal(ha.sequence.etcd.embedded, true);
    const pg = loadConfig({ profile: 'pg-poc', env: {} }).config;
    assert.equal(pg.sequence.storage, 'postgres');
    assert.match(pg.sequence.postgres.url ?? '', /^postgres:\/\/postgres@127\.0\.0\.1:5433\/seqd$/);
  });

  it('ships the container profile: every interface, keys required, JSON lines on stdout and no log file', () => {
    assert.equal(configError(() => loadConfig({ profile: 'container', env: {} })).key, 'security.api-keys');
    const c = loadConfig({ profile: 'container', env: { SEQD_API_KEYS: 'ci:allocate:abcdefghijklmnop1234' } }).config;
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.sequence['data-dir'], '/var/lib/seqd');
    assert.equal(c.logging.file, null);
    assert.equal(logFileOf(c), null);
    assert.equal(c.logging['console-format'], 'json');
    assert.equal(c.sequence.demo.enabled, false);
  });

  it('names the key and the problem of invalid configuration', () => {
    const cases: [string, string, RegExp][] = [
      ['sequence: {core: {global-counter-start: -1}}', 'sequence.core.global-counter-start', /too small|>=0/],
      ['sequence: {core: {gap-recovery-enabled: "yes"}}', 'sequence.core.gap-recovery-enabled', /boolean/],
      ['sequence: {core: {gap-recovery: true}}', 'sequence.core.gap-recovery', /nrecognized/],
      ['sequence: {sites: [{id: "s1", partitions: []}]}', 'sequence.sites[0].partitions', /at least one partition/],
      ['sequence: {sites: [{id: "s1", partitions: [a]}, {id: "s1", partitions: [b]}]}', 'sequence.sites', /unique/],
      ['server: {port: 70000}', 'server.port', /65535|too big/],
      ['sequence: {etcd: {heartbeat-interval-ms: 500, election-timeout-ms: 1000}}', 'sequence.etcd.election-timeout-ms', /5 ×/],
      // Recovery off names "none"; another policy named with it is a contradiction, not a silent none.
      ['sequence: {core: {gap-recovery-enabled: false, gap-policy: chronological}}', 'sequence.core.gap-policy', /gap-recovery-enabled is false/],
    ];
    for (const [yaml, key, problem] of cases) {
      const dir = dirWith({ 'application.yml': yaml });
      const e = configError(() => loadConfig({ configDir: dir, env: {} }));
      assert.equal(e.key, key, yaml);
      assert.match(e.message, problem, yaml);
      assert.ok(e.message.includes(key));
    }
  });

  it('refuses a bad port in env or flags, a missing profile and broken YAML', () => {
    assert.equal(configError(() => loadConfig({ env: { SEQ_PORT: 'eighty' } })).key, 'SEQ_PORT');
    assert.equal(configError(() => loadConfig({ env: {}, port: '99999' })).key, '--port');
    assert.equal(configError(() => loadConfig({ env: {}, profile: 'nope' })).key, 'profile');
    const dir = dirWith({ 'application.yml': 'server: [unclosed' });
    assert.match(configError(() => loadConfig({ configDir: dir, env: {} })).message, /not valid YAML/);
  });
});
