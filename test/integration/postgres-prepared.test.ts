import assert from 'node:assert/strict';
import { connect, createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { http, startTestServer, type TestServer } from '../helpers/seqd-server.js';
import { postgresMissing, startTestPostgres, type TestPostgres } from '../helpers/postgres-server.js';

const missing = postgresMissing();
const holder = { siteId: 'site-1', partitionId: 'partition-a', invoiceType: 'on-cycle' };

/** What seqd asked the server to parse and execute, read off the wire (PostgreSQL protocol 3). */
interface Wire {
  /** Parse messages: the statement name ('' = unnamed, parsed and planned for this use only). */
  readonly parses: { readonly name: string; readonly query: string }[];
  /** Bind messages: the statement each execution used. */
  readonly binds: string[];
}

/**
 * A TCP tap in front of PostgreSQL: passes every byte both ways and decodes the client's messages.
 * Without TLS the first message of a connection is the startup message (no type byte); every later
 * one is a type byte and a length that counts itself.
 */
async function tap(port: number): Promise<{ server: Server; port: number; wire: Wire }> {
  const wire: Wire = { parses: [], binds: [] };
  const cString = (b: Buffer, at: number): [string, number] => {
    const end = b.indexOf(0, at);
    return [b.toString('utf8', at, end), end + 1];
  };
  const server = createServer((client) => {
    const upstream = connect(port, '127.0.0.1');
    upstream.pipe(client);
    let pending = Buffer.alloc(0);
    let started = false;
    client.on('data', (chunk: Buffer) => {
      upstream.write(chunk);
      pending = Buffer.concat([pending, chunk]);
      for (;;) {
        if (!started) {
          if (pending.length < 4) break;
          const length = pending.readInt32BE(0);
          if (pending.length < length) break;
          pending = pending.subarray(length);
          started = true;
          continue;
        }
        if (pending.length < 5) break;
        const length = pending.readInt32BE(1);
        if (pending.length < 1 + length) break;
        const type = String.fromCharCode(pending[0] ?? 0);
        const body = pending.subarray(5, 1 + length);
        if (type === 'P') {
          const [name, next] = cString(body, 0);
          wire.parses.push({ name, query: cString(body, next)[0] });
        } else if (type === 'B') {
          const [, next] = cString(body, 0);
          wire.binds.push(cString(body, next)[0]);
        }
        pending = pending.subarray(1 + length);
      }
    });
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port, wire };
}

describe('seqd on PostgreSQL: prepared statements', { skip: missing ?? false, timeout: 60_000 }, () => {
  let pg: TestPostgres;
  const servers: TestServer[] = [];
  const taps: Server[] = [];
  before(async () => {
    pg = await startTestPostgres();
  });
  after(async () => {
    for (const s of servers) await s.dispose();
    for (const t of taps) t.close();
    await pg?.dispose();
  });

  /** Five batches, one after the other, through a tap; what went over the wire while they ran. */
  const fiveBatches = async (schema: string, extra: Record<string, unknown>) => {
    const t = await tap(pg.port);
    taps.push(t.server);
    const url = `postgres://postgres@127.0.0.1:${t.port}/postgres`;
    const s = await startTestServer({ sequence: { storage: 'postgres', postgres: { url, schema, 'pool-size': 2, ...extra } } });
    servers.push(s);
    const from = { parses: t.wire.parses.length, binds: t.wire.binds.length };
    const numbers: number[] = [];
    for (let i = 0; i < 5; i++) {
      const reply = await http<{ numbers: number[] }>(s.url, 'POST', '/api/v1/sequence/next', holder);
      assert.equal(reply.status, 200, JSON.stringify(reply.body));
      numbers.push(...reply.body.numbers);
    }
    assert.deepEqual(numbers, [1, 2, 3, 4, 5]);
    const eventsInsert = (q: string) => q.includes(`INSERT INTO "${schema}".events`);
    return {
      eventsParses: t.wire.parses.slice(from.parses).filter((p) => eventsInsert(p.query)),
      allParses: t.wire.parses,
      binds: t.wire.binds.slice(from.binds),
    };
  };

  it('parses and plans the statements of a commit once per connection, not at every batch', async () => {
    const { eventsParses, binds } = await fiveBatches('prepared', {});
    const names = new Set(eventsParses.map((p) => p.name));
    assert.ok(eventsParses.length >= 1 && eventsParses.length <= 2, `events insert parsed ${eventsParses.length} times for 5 batches on 2 connections`);
    assert.ok(![...names].includes(''), 'the events insert went unnamed');
    assert.ok(binds.filter((b) => names.has(b)).length >= 5, 'the five batches did not all execute the prepared events insert');
  });

  it('prepared-statements: false names no statement (a pooler in transaction mode)', async () => {
    const { eventsParses, allParses } = await fiveBatches('unprepared', { 'prepared-statements': false });
    assert.equal(eventsParses.length, 5);
    assert.deepEqual(allParses.filter((p) => p.name !== '').map((p) => p.query.slice(0, 60)), []);
  });
});
