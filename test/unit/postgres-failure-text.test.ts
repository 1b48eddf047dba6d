import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import postgres from 'postgres';
import { describeFailure } from '../../src/storage/postgres/postgres-store.js';

describe('PostgreSQL failures as operators read them', () => {
  const failure = (code: string, message: string) => Object.assign(new postgres.PostgresError(message), { code });

  it('names the pooler setting when the server lost seqd prepared statements', () => {
    for (const code of ['26000', '42P05']) {
      const text = describeFailure(failure(code, 'prepared statement "s1" does not exist'));
      assert.match(text, new RegExp(`^${code} prepared statement`));
      assert.match(text, /set sequence\.postgres\.pooler: transaction, and prepared-statements: false or unset$/);
    }
  });

  it('names the pooler setting when a pooler refused the settings sent at connect', () => {
    const text = describeFailure(failure('08P01', 'unsupported startup parameter: synchronous_commit'));
    assert.match(text, /^08P01 unsupported startup parameter: synchronous_commit; a pooler/);
    assert.match(text, /set sequence\.postgres\.pooler to its pool mode \(session or transaction\)$/);
  });

  it('leaves every other failure as the server said it', () => {
    assert.equal(describeFailure(failure('40P01', 'deadlock detected')), '40P01 deadlock detected');
    assert.equal(describeFailure(new Error('connection closed')), 'connection closed');
  });
});
