import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatFailures, tapFailures } from '../../scripts/tap-failures.js';

// Cut from node:test's own TAP output: a suite whose `before` hook threw (its tests cancelled),
// and a nested assertion failure beside a passing and a skipped test.
const TAP = `TAP version 13
# Subtest: suite A
    # Subtest: one
    not ok 1 - one
      ---
      duration_ms: 0
      location: '/t/a.test.mjs:4:3'
      failureType: 'cancelledByParent'
      error: 'test did not finish before its parent and was cancelled'
      code: 'ERR_TEST_FAILURE'
      ...
    1..1
not ok 1 - suite A
  ---
  duration_ms: 103.827922
  type: 'suite'
  location: '/t/a.test.mjs:2:1'
  failureType: 'hookFailed'
  error: 'boom in before'
  code: 'ERR_TEST_FAILURE'
  stack: |-
    SuiteContext.<anonymous> (file:///t/a.test.mjs:3:74)
    async TestHook.run (node:internal/test_runner/test:797:9)
  ...
# Subtest: outer
    # Subtest: inner
        # Subtest: fails an assertion
        not ok 1 - fails an assertion
          ---
          duration_ms: 2.080826
          location: '/t/c.test.mjs:5:5'
          failureType: 'testCodeFailure'
          error: |-
            one is not two

            1 !== 2

          code: 'ERR_ASSERTION'
          expected: 2
          actual: 1
          operator: 'strictEqual'
          stack: |-
            TestContext.<anonymous> (file:///t/c.test.mjs:5:45)
            Test.runInAsyncScope (node:async_hooks:206:9)
          ...
        # Subtest: passes
        ok 2 - passes
          ---
          duration_ms: 0.279268
          ...
        # Subtest: skipped
        ok 3 - skipped # SKIP a reason
          ---
          duration_ms: 0.130136
          ...
        1..3
    not ok 1 - inner
      ---
      duration_ms: 3.343677
      type: 'suite'
      failureType: 'subtestsFailed'
      error: '1 subtest failed'
      ...
    1..1
not ok 2 - outer
  ---
  duration_ms: 4.29692
  type: 'suite'
  failureType: 'subtestsFailed'
  error: '1 subtest failed'
  ...
# Subtest: after
ok 3 - after
  ---
  duration_ms: 1
  ...
1..3
`;

describe('TAP failure summary (the end of a CI log)', () => {
  it('names the failed hook and the failed test with their paths and errors, not the cancelled or the parents', () => {
    const failures = tapFailures(TAP);
    assert.deepEqual(
      failures.map((f) => [f.name, f.failureType]),
      [
        ['suite A', 'hookFailed'],
        ['outer > inner > fails an assertion', 'testCodeFailure'],
      ],
    );
    assert.deepEqual(failures[0]?.detail, ["location: '/t/a.test.mjs:2:1'", "error: 'boom in before'", 'stack:', '  SuiteContext.<anonymous> (file:///t/a.test.mjs:3:74)']);
    assert.deepEqual(failures[1]?.detail.slice(0, 4), ["location: '/t/c.test.mjs:5:5'", 'error: |-', '  one is not two', '']);
    assert.ok(failures[1]?.detail.includes('operator: \'strictEqual\''));
    assert.match(formatFailures(failures), /^2 failed:\n1\. suite A \(hookFailed\)\n {3}location/);
  });

  it('gives a whole file that failed outside its tests with what it printed', () => {
    const tap = `TAP version 13
# Subtest: suite B
ok 1 - suite B
  ---
  duration_ms: 1006.108942
  type: 'suite'
  ...
# Error: Test hook "before" at b.test.mjs:3:3 generated asynchronous activity after the test ended.
# Subtest: /t/b.test.mjs
not ok 2 - /t/b.test.mjs
  ---
  duration_ms: 1146.838179
  location: '/t/b.test.mjs:1:1'
  failureType: 'testCodeFailure'
  exitCode: 1
  signal: ~
  error: 'test failed'
  code: 'ERR_TEST_FAILURE'
  ...
1..2
# tests 3
`;
    assert.deepEqual(tapFailures(tap), [
      {
        name: '/t/b.test.mjs',
        failureType: 'testCodeFailure',
        detail: ["location: '/t/b.test.mjs:1:1'", "error: 'test failed'", 'printed: Error: Test hook "before" at b.test.mjs:3:3 generated asynchronous activity after the test ended.'],
      },
    ]);
  });

  it('says so when the log has no failed test', () => {
    assert.deepEqual(tapFailures(TAP.replace(/not ok/g, 'ok')), []);
    assert.match(formatFailures([]), /no failed test/);
  });
});
