import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** One b-tree of the file: its root page, and whether its leaves are read too. */
export interface TreeToMap {
  readonly name: string;
  readonly root: number;
  /** Leaves read as well, and the overflow pages their cells name claimed. */
  readonly readLeaves: boolean;
}

/** What {@link mapPages} found. */
export interface PageMap {
  /** Structural damage; empty when none was found. */
  readonly problems: readonly string[];
  /**
   * Set when this file's layout is outside what the map understands (auto-vacuum pointer-map
   * pages): the caller checks the whole file instead.
   */
  readonly unsupported: string | null;
  readonly pageCount: number;
  readonly pagesRead: number;
  /** Pages no tree, freelist or overflow chain that was read names: overflow pages of unread leaves (or lost pages). */
  readonly unclaimed: number;
}

const MAX_PROBLEMS = 5;
const HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const LEAF = { index: 10, table: 13 } as const;
const INTERIOR = { index: 2, table: 5 } as const;

/**
 * Maps which b-tree, freelist or overflow chain owns every page of a SQLite file it can reach
 * without reading the leaves of the large trees: every interior page of every tree, every page of
 * the trees marked `readLeaves` (with their overflow chains) and the whole freelist are read.
 * Finds a page claimed twice (by two trees, or by a tree and the freelist: the allocator would
 * hand a live page out and a commit would overwrite it), a page out of range, an interior page
 * that is not one, a malformed cell pointer, a freelist whose length is not the header's, and a
 * file shorter than its header says. It does not read the leaves of the other trees, nor check
 * that keys are in order: those are left to SQLite's own check.
 *
 * The file must not change while it is read, and must hold every commit (no WAL frames left).
 */
export function mapPages(path: string, trees: readonly TreeToMap[]): PageMap {
  const fd = openSync(path, 'r');
  try {
    return new PageMapper(fd, fstatSync(fd).size).map(trees);
  } finally {
    closeSync(fd);
  }
}

class PageMapper {
  private readonly problems: string[] = [];
  private pageSize = 0;
  private usable = 0;
  private pageCount = 0;
  private pagesRead = 0;
  /** Owner of each page, as an index into `owners` plus one (0: no owner yet). */
  private owner = new Int32Array(0);
  private readonly owners: string[] = [];

  constructor(
    private readonly fd: number,
    private readonly fileBytes: number,
  ) {}

  map(trees: readonly TreeToMap[]): PageMap {
    const unsupported = this.readHeader();
    if (unsupported !== null || this.problems.length > 0) return this.result(unsupported);
    this.mapFreelist();
    for (const tree of trees) {
      if (this.problems.length >= MAX_PROBLEMS) break;
      this.mapTree(tree);
    }
    return this.result(null);
  }

  private result(unsupported: string | null): PageMap {
    let unclaimed = 0;
    for (let p = 1; p <= this.pageCount; p++) if (this.owner[p] === 0) unclaimed++;
    return { problems: this.problems.slice(0, MAX_PROBLEMS), unsupported, pageCount: this.pageCount, pagesRead: this.pagesRead, unclaimed };
  }

  private problem(message: string): void {
    if (this.problems.length < MAX_PROBLEMS) this.problems.push(message);
  }

  /** Page size, page count and the checks of the header itself; answers why the map cannot be made, if so. */
  private readHeader(): string | null {
    const header = Buffer.alloc(100);
    if (readSync(this.fd, header, 0, 100, 0) < 100 || !header.subarray(0, 16).equals(HEADER)) {
      this.problem('the file does not start with a SQLite header');
      return null;
    }
    const size = header.readUInt16BE(16);
    this.pageSize = size === 1 ? 65536 : size;
    if (this.pageSize < 512 || (this.pageSize & (this.pageSize - 1)) !== 0) {
      this.problem(`page size ${this.pageSize} in the header is not a power of two from 512`);
      return null;
    }
    this.usable = this.pageSize - header.readUInt8(20);
    if (header.readUInt32BE(52) !== 0) return 'the file uses auto-vacuum (pointer-map pages)';
    const filePages = Math.floor(this.fileBytes / this.pageSize);
    // The header's count is valid only when written by the same change as the change counter.
    const headerPages = header.readUInt32BE(92) === header.readUInt32BE(24) ? header.readUInt32BE(28) : 0;
    if (headerPages !== 0 && headerPages !== filePages) {
      this.problem(`the header says ${headerPages} pages but the file holds ${filePages} (cut short or grown outside SQLite)`);
    }
    this.pageCount = headerPages !== 0 ? Math.min(headerPages, filePages) : filePages;
    this.owner = new Int32Array(this.pageCount + 1);
    // SQLite never uses the page holding the lock bytes at 1 GiB.
    const lockPage = Math.floor(0x40000000 / this.pageSize) + 1;
    if (lockPage <= this.pageCount) this.claim(lockPage, 'the lock-byte page');
    this.freelistHead = header.readUInt32BE(32);
    this.freelistCount = header.readUInt32BE(36);
    return null;
  }

  private freelistHead = 0;
  private freelistCount = 0;

  /** Trunk pages list leaf pages; both are free and must belong to nothing else. */
  private mapFreelist(): void {
    let seen = 0;
    const perTrunk = this.usable / 4 - 2;
    for (let trunk = this.freelistHead; trunk !== 0; ) {
      if (!this.claim(trunk, 'the freelist')) return;
      const page = this.read(trunk);
      const leaves = page.readUInt32BE(4);
      if (leaves > perTrunk) {
        this.problem(`freelist trunk page ${trunk} names ${leaves} leaves (at most ${perTrunk} fit)`);
        return;
      }
      seen += 1 + leaves;
      for (let i = 0; i < leaves; i++) this.claim(page.readUInt32BE(8 + 4 * i), 'the freelist');
      trunk = page.readUInt32BE(0);
    }
    if (seen !== this.freelistCount) this.problem(`the freelist holds ${seen} pages but the header says ${this.freelistCount}`);
  }

  /**
   * Level by level from the root (each level read in page order, which the disk reads fastest).
   * SQLite's b-trees are balanced: the depth of the leftmost leaf is every leaf's depth, so the
   * leaves of a tree whose leaves are not read are claimed from their parents without reading them.
   */
  private mapTree(tree: TreeToMap): void {
    if (!this.claim(tree.root, tree.name)) return;
    const depth = this.depthOf(tree);
    if (depth === null) return;
    let level = [tree.root];
    for (let d = 0; d <= depth && level.length > 0; d++) {
      const leaves = d === depth;
      if (leaves && !tree.readLeaves) return;
      const next: number[] = [];
      for (const n of level.sort((a, b) => a - b)) {
        if (this.problems.length >= MAX_PROBLEMS) return;
        const children = this.cellsOf(tree, n, leaves);
        for (const child of children) if (this.claim(child, tree.name)) next.push(child);
      }
      level = next;
    }
  }

  /** Levels below the root down to the leftmost leaf (0: the root is a leaf), or null on damage. */
  private depthOf(tree: TreeToMap): number | null {
    let n = tree.root;
    for (let depth = 0; depth < 64; depth++) {
      const page = this.read(n);
      const at = n === 1 ? 100 : 0;
      const type = page.readUInt8(at);
      if (type === LEAF.index || type === LEAF.table) return depth;
      if (type !== INTERIOR.index && type !== INTERIOR.table) {
        this.problem(`${tree.name}: page ${n} has page type ${type}`);
        return null;
      }
      const cells = page.readUInt16BE(at + 3);
      n = cells > 0 ? this.u32At(page, page.readUInt16BE(at + 12)) : page.readUInt32BE(at + 8);
      if (n < 1 || n > this.pageCount) {
        this.problem(`${tree.name}: page ${tree.root}'s leftmost path names page ${n}, outside the file`);
        return null;
      }
    }
    this.problem(`${tree.name}: deeper than 64 levels`);
    return null;
  }

  private u32At(page: Buffer, offset: number): number {
    return offset + 4 <= page.length ? page.readUInt32BE(offset) : 0;
  }

  /** The child pages of an interior page (its overflow chains claimed), or the overflow of a leaf's cells. */
  private cellsOf(tree: TreeToMap, n: number, leaf: boolean): number[] {
    const page = this.read(n);
    const at = n === 1 ? 100 : 0;
    const type = page.readUInt8(at);
    const expected = leaf ? [LEAF.index, LEAF.table] : [INTERIOR.index, INTERIOR.table];
    if (!(expected as number[]).includes(type)) {
      this.problem(`${tree.name}: page ${n} has page type ${type} where ${leaf ? 'a leaf' : 'an interior page'} belongs`);
      return [];
    }
    const cells = page.readUInt16BE(at + 3);
    const pointers = at + (leaf ? 8 : 12);
    if (pointers + 2 * cells > this.usable) {
      this.problem(`${tree.name}: page ${n} claims ${cells} cells, more than fit`);
      return [];
    }
    const children: number[] = leaf ? [] : [page.readUInt32BE(at + 8)];
    for (let i = 0; i < cells; i++) {
      const cell = page.readUInt16BE(pointers + 2 * i);
      if (cell < pointers + 2 * cells || cell + 4 > this.usable) {
        this.problem(`${tree.name}: page ${n} cell ${i} lies outside the page's cell area`);
        return [];
      }
      let payloadAt = cell;
      if (!leaf) {
        children.push(page.readUInt32BE(cell));
        payloadAt += 4;
      }
      // Interior cells of table trees hold only a rowid: no payload, no overflow.
      if (type === INTERIOR.table) continue;
      const [payload, size] = varint(page, payloadAt);
      payloadAt += size;
      if (type === LEAF.table) payloadAt += varint(page, payloadAt)[1];
      this.claimOverflow(tree, n, page, payloadAt, payload, type === LEAF.table);
    }
    return children;
  }

  /** A cell whose payload does not fit in its page continues on a chain of overflow pages. */
  private claimOverflow(tree: TreeToMap, n: number, page: Buffer, payloadAt: number, payload: number, tableLeaf: boolean): void {
    const u = this.usable;
    const maxLocal = tableLeaf ? u - 35 : Math.floor(((u - 12) * 64) / 255) - 23;
    if (payload <= maxLocal) return;
    const minLocal = Math.floor(((u - 12) * 32) / 255) - 23;
    let local = minLocal + ((payload - minLocal) % (u - 4));
    if (local > maxLocal) local = minLocal;
    if (payloadAt + local + 4 > u) {
      this.problem(`${tree.name}: page ${n} has a cell whose overflow pointer lies outside the page`);
      return;
    }
    let next = page.readUInt32BE(payloadAt + local);
    for (let left = Math.ceil((payload - local) / (u - 4)); left > 0; left--) {
      if (!this.claim(next, `${tree.name} (overflow)`)) return;
      next = this.read(next).readUInt32BE(0);
    }
  }

  /** Records `owner` as the page's owner; false (and a problem) when it is out of range or owned already. */
  private claim(n: number, owner: string): boolean {
    if (n < 1 || n > this.pageCount) {
      this.problem(`${owner} names page ${n}, outside the file (1 to ${this.pageCount})`);
      return false;
    }
    const held = this.owner[n] ?? 0;
    if (held !== 0) {
      this.problem(`page ${n} is claimed by ${this.owners[held - 1]} and by ${owner}`);
      return false;
    }
    let id = this.owners.lastIndexOf(owner);
    if (id < 0) id = this.owners.push(owner) - 1;
    this.owner[n] = id + 1;
    return true;
  }

  private read(n: number): Buffer {
    const page = Buffer.alloc(this.pageSize);
    readSync(this.fd, page, 0, this.pageSize, (n - 1) * this.pageSize);
    this.pagesRead++;
    return page;
  }
}

/** SQLite's big-endian varint (1 to 9 bytes): its value and length. */
function varint(page: Buffer, at: number): [number, number] {
  let value = 0;
  for (let i = 0; i < 8; i++) {
    const byte = page[at + i] ?? 0;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  return [value * 256 + (page[at + 8] ?? 0), 9];
}
