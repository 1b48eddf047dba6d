import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readSync, rmSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { mapPages, type TreeToMap } from '../../src/storage/sqlite/sqlite-page-map.js';
import { SQLITE_SCHEMA } from '../../src/storage/sqlite/sqlite-schema.js';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/**
 * A file with seqd's schema: a trail three levels deep, rows long enough to overflow in a
 * serving table and in the trail, and a freelist (trail rows deleted).
 */
function ledgerFile(options: { autoVacuum?: boolean; pageSize?: number } = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'seqd-page-map-'));
  dirs.push(dir);
  const path = join(dir, 'seqd.sqlite');
  const db = new Database(path);
  if (options.autoVacuum) db.pragma('auto_vacuum = FULL');
  if (options.pageSize) db.pragma(`page_size = ${options.pageSize}`);
  db.exec(SQLITE_SCHEMA);
  db.prepare('INSERT INTO series (name, start, hwm, version, event_seq, last_hash, archive) VALUES (?, 1, 9000, 1, 9000, ?, ?)').run('global', 'h', 'a'.repeat(12_000));
  const event = db.prepare(
    `INSERT INTO events (series, seq, ts, type, first, last, batch_id, node, prev_hash, hash, reason) VALUES ('global', ?, 0, 'issue', ?, ?, ?, 'n', ?, ?, ?)`,
  );
  db.transaction(() => {
    for (let i = 1; i <= 9000; i++) event.run(i, i, i, `batch-${i}`, 'p'.repeat(64), 'h'.repeat(64), i % 1000 === 0 ? 'r'.repeat(6000) : null);
  })();
  db.prepare('DELETE FROM events WHERE seq BETWEEN 2000 AND 3500').run();
  // An idempotency record long enough to overflow, among short ones.
  const request = db.prepare("INSERT INTO requests (series, key, record, committed_at) VALUES ('global', ?, ?, 0)");
  for (let i = 0; i < 300; i++) request.run(`key-${i}`, i === 150 ? 'x'.repeat(1500) : '{}');
  db.close();
  return path;
}

function treesOf(path: string): TreeToMap[] {
  const db = new Database(path, { readonly: true });
  try {
    const trees = db.prepare<[], { name: string; rootpage: number }>('SELECT name, rootpage FROM sqlite_schema WHERE rootpage > 0').all();
    return [{ name: 'sqlite_schema', root: 1 }, ...trees.map((t) => ({ name: t.name, root: t.rootpage }))];
  } finally {
    db.close();
  }
}

/** Page numbers of `name` of one kind (`internal`, `leaf`, `overflow`), from SQLite's own view. */
function pagesOf(path: string, name: string, kind: string): number[] {
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare<[string, string], { pageno: number }>('SELECT pageno FROM dbstat WHERE name = ? AND pagetype = ? ORDER BY pageno').all(name, kind).map((r) => r.pageno);
  } finally {
    db.close();
  }
}

const PAGE = 4096;
function readPage(path: string, n: number): Buffer {
  const fd = openSync(path, 'r');
  const page = Buffer.alloc(PAGE);
  readSync(fd, page, 0, PAGE, (n - 1) * PAGE);
  closeSync(fd);
  return page;
}
function writePage(path: string, n: number, page: Buffer): void {
  const fd = openSync(path, 'r+');
  writeSync(fd, page, 0, PAGE, (n - 1) * PAGE);
  closeSync(fd);
}
/** Reads page `n`, lets `edit` change it, writes it back: damage as a bad disk or an edit makes it. */
function editPage(path: string, n: number, edit: (page: Buffer) => void): void {
  const page = readPage(path, n);
  edit(page);
  writePage(path, n, page);
}
/** What the map finds in the file, one string. */
const problemsOf = (path: string): string => mapPages(path, treesOf(path)).problems.join('; ');
const first = (pages: number[], what: string): number => {
  const n = pages[0];
  assert.ok(n !== undefined, `the file has ${what}`);
  return n;
};

describe('SQLite page map: who owns each page, from one front-to-back read of the file', () => {
  it('a sound file, read once front to back: every page has one owner', () => {
    const path = ledgerFile();
    assert.ok(pagesOf(path, 'events', 'internal').length > 10, 'the trail has interior pages');
    assert.ok(pagesOf(path, 'series', 'overflow').length >= 3, 'a serving row overflows');
    assert.ok(pagesOf(path, 'events', 'overflow').length > 0, 'trail rows overflow');
    assert.ok(pagesOf(path, 'requests', 'overflow').length > 0, 'a request record overflows');
    const map = mapPages(path, treesOf(path));
    assert.deepEqual(map.problems, []);
    assert.equal(map.unsupported, null);
  });

  it('sound files of other shapes: no false alarm (64 KiB pages, every other row deleted, after VACUUM)', () => {
    const big = ledgerFile({ pageSize: 65536 });
    const holes = ledgerFile();
    const vacuumed = ledgerFile();
    for (const [path, sql] of [[holes, "DELETE FROM events WHERE seq % 2 = 0; DELETE FROM requests WHERE key LIKE '%3'"], [vacuumed, 'VACUUM']] as const) {
      const db = new Database(path);
      db.exec(sql);
      db.close();
    }
    for (const path of [big, holes, vacuumed]) {
      const db = new Database(path, { readonly: true });
      assert.deepEqual(db.pragma('quick_check', { simple: true }), 'ok', 'SQLite finds the file sound');
      db.close();
      assert.deepEqual(mapPages(path, treesOf(path)).problems, [], path);
    }
  });

  it('a page nothing names: found (SQLite calls it never used)', () => {
    const path = ledgerFile();
    const trees = treesOf(path).filter((t) => t.name !== 'numbers_status');
    assert.match(mapPages(path, trees).problems.join('; '), /page\(s\) belong to no tree, overflow chain or the freelist/);
  });

  it('the freelist names the series table’s page (the allocator would hand it out and a commit overwrite it): found', () => {
    const path = ledgerFile();
    const header = readPage(path, 1);
    const trunk = header.readUInt32BE(32);
    assert.ok(trunk > 0, 'the file has a freelist');
    const series = first(pagesOf(path, 'series', 'leaf'), 'a series leaf');
    editPage(path, trunk, (page) => {
      const leaves = page.readUInt32BE(4);
      page.copy(page, 12, 8, 8 + 4 * leaves);
      page.writeUInt32BE(series, 8);
      page.writeUInt32BE(leaves + 1, 4);
    });
    header.writeUInt32BE(header.readUInt32BE(36) + 1, 36);
    writePage(path, 1, header);
    // SQLite's check of the series table alone does not see it.
    const db = new Database(path, { readonly: true });
    assert.deepEqual(db.pragma("quick_check('series')", { simple: false }), [{ quick_check: 'ok' }]);
    db.close();
    const map = mapPages(path, treesOf(path));
    assert.match(map.problems.join('; '), new RegExp(`page ${series} is claimed by the freelist and by series`));
  });

  it('a trail interior page names a page of the series table as its child: found', () => {
    const path = ledgerFile();
    const interior = first(pagesOf(path, 'events', 'internal'), 'a trail interior page');
    const series = first(pagesOf(path, 'series', 'leaf'), 'a series leaf');
    editPage(path, interior, (page) => {
      page.writeUInt32BE(series, 8);
    });
    assert.match(problemsOf(path), new RegExp(`page ${series} is claimed by (series and by events|events and by series)`));
  });

  it('an overflow chain of a serving row runs into a trail page: found', () => {
    const path = ledgerFile();
    const overflow = first(pagesOf(path, 'series', 'overflow'), 'a series overflow page');
    const interior = first(pagesOf(path, 'events', 'internal'), 'a trail interior page');
    editPage(path, overflow, (page) => {
      page.writeUInt32BE(interior, 0);
    });
    assert.match(problemsOf(path), new RegExp(`page ${interior} is claimed by`));
  });

  it('a trail interior page zeroed: found', () => {
    const path = ledgerFile();
    const interior = pagesOf(path, 'events', 'internal').at(-1) ?? 0;
    writePage(path, interior, Buffer.alloc(PAGE));
    assert.match(problemsOf(path), new RegExp(`events: page ${interior} has page type 0`));
  });

  it('a file cut short, and a freelist shorter than its header says: found', () => {
    const cut = ledgerFile();
    const trees = treesOf(cut);
    truncateSync(cut, 20 * PAGE);
    assert.match(mapPages(cut, trees).problems.join('; '), /the header says \d+ pages but the file holds 20/);
    const path = ledgerFile();
    const header = readPage(path, 1);
    header.writeUInt32BE(header.readUInt32BE(36) + 1, 36);
    writePage(path, 1, header);
    assert.match(problemsOf(path), /the freelist holds \d+ pages but the header says/);
  });

  it('an auto-vacuum file (pointer-map pages) is left to the whole check', () => {
    const path = ledgerFile({ autoVacuum: true });
    assert.match(mapPages(path, treesOf(path)).unsupported ?? '', /auto-vacuum/);
  });

  it('a trail leaf turned into an interior page whose child is the numbers table (SQLite would insert trail rows there): found', () => {
    const path = ledgerFile();
    const leaf = pagesOf(path, 'events', 'leaf').at(-1) ?? 0;
    const numbers = first(pagesOf(path, 'numbers', 'leaf'), 'a numbers leaf');
    editPage(path, leaf, (page) => {
      page.writeUInt8(2, 0);
      page.writeUInt32BE(numbers, 8);
    });
    assert.match(problemsOf(path), new RegExp(`events: page ${leaf} has page type 2 where type 10 belongs`));
  });

  it('the overflow pointer of a request record names the series table’s page (replacing the record would free it): found', () => {
    const path = ledgerFile();
    const series = first(pagesOf(path, 'series', 'leaf'), 'a series leaf');
    let patched = false;
    for (const n of pagesOf(path, 'requests', 'leaf')) {
      const page = readPage(path, n);
      for (let i = 0; i < page.readUInt16BE(3) && !patched; i++) {
        const cell = page.readUInt16BE(8 + 2 * i);
        // The long record: a two-byte payload size over the index cells' local maximum (1002 here).
        const payload = ((page.readUInt8(cell) & 0x7f) << 7) | page.readUInt8(cell + 1);
        if ((page.readUInt8(cell) & 0x80) === 0 || payload <= 1002) continue;
        const minLocal = Math.floor(((PAGE - 12) * 32) / 255) - 23;
        let local = minLocal + ((payload - minLocal) % (PAGE - 4));
        if (local > 1002) local = minLocal;
        page.writeUInt32BE(series, cell + 2 + local);
        writePage(path, n, page);
        patched = true;
      }
      if (patched) break;
    }
    assert.ok(patched, 'found the long record');
    assert.match(problemsOf(path), new RegExp(`page ${series} is claimed by .*`));
  });

  it('a free block laid over a cell of a trail interior page (SQLite would write a new cell over it, and its bytes could become a child pointer): found', () => {
    const path = ledgerFile();
    const interior = first(pagesOf(path, 'events', 'internal'), 'a trail interior page');
    const cell = readPage(path, interior).readUInt16BE(12);
    editPage(path, interior, (page) => {
      page.writeUInt16BE(cell + 8, 1);
      page.writeUInt16BE(0, cell + 8);
      page.writeUInt16BE(16, cell + 10);
    });
    assert.match(problemsOf(path), new RegExp(`events: page ${interior} is malformed \\(byte ${cell + 8} is used twice\\)`));
  });

  it('a fragment count that does not add up with the cells and free blocks: found', () => {
    const path = ledgerFile();
    const leaf = pagesOf(path, 'events', 'leaf').at(-2) ?? 0;
    editPage(path, leaf, (page) => {
      page.writeUInt8((page.readUInt8(7) + 7) % 256, 7);
    });
    assert.match(problemsOf(path), new RegExp(`events: page ${leaf} is malformed \\(its fragmented bytes are \\d+, reported as \\d+\\)`));
  });

  it('a payload size in 5 or more bytes (SQLite reads a ninth byte as 7 bits; the map would see another cell extent): refused', () => {
    const path = ledgerFile();
    const leaf = pagesOf(path, 'events', 'leaf').at(-3) ?? 0;
    editPage(path, leaf, (page) => {
      const cell = page.readUInt16BE(8);
      for (let i = 0; i < 4; i++) page.writeUInt8(0x81, cell + i);
    });
    assert.match(problemsOf(path), new RegExp(`events: page ${leaf} is malformed \\(its cell 0 claims a payload of more than`));
  });
});
