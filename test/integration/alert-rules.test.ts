import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { parse } from 'yaml';
import { startTestServer, type TestServer } from '../helpers/seqd-server.js';

const DIR = fileURLToPath(new URL('../../deploy/prometheus/', import.meta.url));

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

  describe('query only metrics seqd serves', () => {
    let s: TestServer;
    before(async () => {
      s = await startTestServer();
    });
    after(() => s?.dispose());

    it('every seqd_* series an alert reads is on /metrics', async () => {
      const used = new Set(alerts.flatMap((a) => [...a.expr.matchAll(/\b(seqd_[a-z0-9_]+)/g)].map((m) => (m[1] ?? '').replace(/_(bucket|count|sum)$/, ''))));
      const text = await (await fetch(`${s.url}/metrics`)).text();
      const served = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]));
      assert.deepEqual([...used].filter((n) => !served.has(n)), []);
      assert.ok(used.has('seqd_series_state_mismatch'));
    });
  });
});
