import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse, stringify } from 'yaml';
import { freePortBase } from '../helpers/etcd-cluster.js';
import { sample } from '../helpers/prometheus.js';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { sha256Hex } from '../../src/security/api-keys.js';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));
const METRICS_KEY = 'prometheus-read-key-0123456789';
const CLIENT_KEY = 'billing-key-0123456789abc';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

interface Rules {
  groups: { rules: { alert?: string; expr: string }[] }[];
}
interface RuleTests {
  tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[];
}

function promtool(): string | null {
  const found = spawnSync('promtool', ['--version'], { encoding: 'utf8' });
  if (found.status === 0) return 'promtool';
  // In CI a missing tool is a failure, never a skip.
  if (process.env.CI === 'true') assert.fail('promtool is missing: install the Debian package prometheus');
  return null;
}

const tool = promtool();
const rules = parse(readFileSync(`${DIR}seqd-alerts.yml`, 'utf8')) as Rules;
const alerts = rules.groups.flatMap((g) => g.rules).filter((r): r is { alert: string; expr: string } => typeof r.alert === 'string');

describe('alert rules (deploy/prometheus/seqd-alerts.yml)', () => {
  it('are valid for Prometheus (promtool check rules)', { skip: tool ? false : 'promtool is not installed (Debian package prometheus)' }, () => {
    const out = execFileSync('promtool', ['check', 'rules', 'seqd-alerts.yml'], { cwd: DIR, encoding: 'utf8' });
    assert.match(out, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  it('pass their unit tests (promtool test rules): each fires when it should, with its labels and text', { skip: tool ? false : 'promtool is not installed (Debian package prometheus)' }, () => {
    const run = spawnSync('promtool', ['test', 'rules', 'seqd-alerts.test.yml'], { cwd: DIR, encoding: 'utf8' });
    assert.equal(run.status, 0, `${run.stdout}\n${run.stderr}`);
  });

  it('every alert has a case where it fires and one where it stays quiet', () => {
    const tests = parse(readFileSync(`${DIR}seqd-alerts.test.yml`, 'utf8')) as RuleTests;
    const cases = tests.tests.flatMap((t) => t.alert_rule_test ?? []);
    const missing = alerts.flatMap((a) => {
      const mine = cases.filter((c) => c.alertname === a.alert);
      const fires = mine.some((c) => (c.exp_alerts ?? []).length > 0);
      const quiet = mine.some((c) => (c.exp_alerts ?? []).length === 0);
      return fires && quiet ? [] : [`${a.alert}: ${fires ? '' : 'no firing case '}${quiet ? '' : 'no quiet case'}`];
    });
    assert.ok(alerts.length >= 9, alerts.map((a) => a.alert).join(', '));
    assert.deepEqual(missing, []);
  });

  it('every alert has a runbook line in docs/deploy.md, and the runbook names no alert that does not exist', () => {
    const doc = readFileSync(new URL('../../docs/deploy.md', import.meta.url), 'utf8');
    const runbook = [...doc.matchAll(/^\| `(Seqd[A-Za-z]+)` \|/gm)].map((m) => m[1]);
    assert.deepEqual([...runbook].sort(), alerts.map((a) => a.alert).sort());
  });

  describe('query only metrics seqd serves', () => {
    let s: TestServer;
    // With API keys on, as in production: Prometheus scrapes with a read-role key.
    before(async () => {
      s = await startTestServer({
        security: {
          'require-api-keys': true,
          'api-keys': [
            { name: 'prometheus', sha256: sha256Hex(METRICS_KEY), roles: ['read'] },
            { name: 'billing', sha256: sha256Hex(CLIENT_KEY), roles: ['allocate'] },
          ],
        },
      });
    });
    after(() => s?.dispose());

    it('a real Prometheus scrapes seqd with these rules and answers its series through the query API', { skip: tool ? false : 'prometheus is not installed (Debian package prometheus)', timeout: 60_000 }, async () => {
      assert.equal((await http(s.url, 'POST', '/api/v1/sequence/next', { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle', count: 3 }, bearer(CLIENT_KEY))).status, 200);
      const dir = mkdtempSync(join(tmpdir(), 'seqd-prometheus-'));
      const port = await freePortBase(1);
      // The shipped prometheus.yml and rules, byte for byte (the compose stack mounts them), with
      // the two files they expect beside them: the instance list and the scrape key.
      copyFileSync(`${DIR}prometheus.yml`, join(dir, 'prometheus.yml'));
      copyFileSync(`${DIR}seqd-alerts.yml`, join(dir, 'seqd-alerts.yml'));
      mkdirSync(join(dir, 'targets'));
      writeFileSync(join(dir, 'targets', 'seqd.yml'), stringify([{ targets: [new URL(s.url).host] }]));
      writeFileSync(join(dir, 'seqd-metrics.key'), METRICS_KEY, { mode: 0o600 });
      const child = spawn('prometheus', [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
      const api = `http://127.0.0.1:${port}/api/v1`;
      const query = async (q: string) => {
        const r = await fetch(`${api}/query?query=${encodeURIComponent(q)}`).catch(() => null);
        return r?.ok ? ((await r.json()) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result : [];
      };
      try {
        // The shipped file scrapes and evaluates every 10 s.
        const deadline = Date.now() + 40_000;
        let hwm = await query('seqd_series_high_water_mark');
        while (hwm.length === 0) {
          assert.ok(Date.now() < deadline, 'Prometheus never scraped seqd');
          await new Promise((r) => setTimeout(r, 250));
          hwm = await query('seqd_series_high_water_mark');
        }
        assert.deepEqual(hwm.map((r) => [r.metric.series, r.metric.job, r.value[1]]), [['global', 'seqd', '3']]);
        const loaded = (await (await fetch(`${api}/rules`)).json()) as { data: { groups: { rules: { name: string; health: string }[] }[] } };
        const loadedRules = loaded.data.groups.flatMap((g) => g.rules);
        assert.deepEqual(loadedRules.map((r) => r.name).sort(), alerts.map((a) => a.alert).sort());
        assert.deepEqual(loadedRules.filter((r) => r.health === 'err').map((r) => r.name), [], 'no rule fails to evaluate');
        const targets = (await (await fetch(`${api}/targets`)).json()) as { data: { activeTargets: { health: string; lastError: string }[] } };
        assert.deepEqual(targets.data.activeTargets.map((t) => [t.health, t.lastError]), [['up', '']], 'the scrape with the read key works');
        const firing = (await (await fetch(`${api}/alerts`)).json()) as { data: { alerts: { labels: { alertname: string } }[] } };
        assert.deepEqual(firing.data.alerts.map((a) => a.labels.alertname), [], 'a healthy seqd fires nothing');
      } finally {
        child.kill('SIGKILL');
        rmSync(dir, { recursive: true, force: true });
      }
    });

    it('every seqd_* series an alert reads is on /metrics', async () => {
      const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\b(seqd_[a-z0-9_]+)/g)].map((m) => (m[1] ?? '').replace(/_(bucket|count|sum)$/, ''))));
      const text = await (await fetch(`${s.url}/metrics`, { headers: bearer(METRICS_KEY) })).text();
      const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
      // The seqd_postgres_* gauges are served on the PostgreSQL store only (postgres-failover.test.ts).
      assert.deepEqual([...used].filter((n) => !served.has(n) && !n.startsWith('seqd_postgres_')), []);
      assert.ok(used.has('seqd_series_state_mismatch'));
      // The verify gauges are set by a verify run here.
      assert.equal((await http(s.url, 'GET', '/api/v1/audit/verify', undefined, bearer(METRICS_KEY))).status, 200);
      const after = await (await fetch(`${s.url}/metrics`, { headers: bearer(METRICS_KEY) })).text();
      assert.equal(sample(after, 'seqd_audit_verify_valid', { series: 'global' }), 1);
      assert.equal(sample(after, 'seqd_series_close_overdue', { series: 'global' }), 0, 'a series without a period is never overdue');
    });
  });
});
