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
      assert.match(text, /sequence\.postgres\.prepared-statements: false/);
    }
  });

  it('leaves every other failure as the server said it', () => {
    assert.equal(describeFailure(failure('40P01', 'deadlock detected')), '40P01 deadlock detected');
    assert.equal(describeFailure(new Error('connection closed')), 'connection closed');
  });
});
