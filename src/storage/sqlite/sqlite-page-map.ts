import { closeSync, fstatSync, openSync, readSync } from 'node:fs';

/** One b-tree of the file, by its root page. */
export interface TreeToMap {
  readonly name: string;
  readonly root: number;
}

/** What {@link mapPages} found. */
export interface PageMap {
  /** Structural damage; empty when none was found. */
  readonly problems: readonly string[];
  /**
   * Set when this file's layout is outside what the map understands (auto-vacuum pointer-map
   * pages): the caller checks the file with SQLite's own check instead.
   */
  readonly unsupported: string | null;
  readonly pageCount: number;
}

const MAX_PROBLEMS = 5;
const HEADER = Buffer.from('SQLite format 3\0', 'latin1');
const INDEX_INTERIOR = 2;
const TABLE_INTERIOR = 5;
const INDEX_LEAF = 10;
const TABLE_LEAF = 13;
/** Payloads above this (a 5-byte size varint or more) are refused: see `payloadSize`. */
const MAX_PAYLOAD = 2 ** 28 - 1;
/** Pages read per call: the file is read front to back once, in large sequential reads. */
const CHUNK_PAGES = 1024;

/**
 * Maps which b-tree, freelist or overflow chain owns every page of a SQLite file, reading the file
 * once, front to back (what the disk reads fastest; SQLite's own check follows the trees and reads
 * in their order). Every page is parsed as a b-tree page on the way; then the trees are walked
 * from their roots over what was parsed. Finds: a page claimed twice (by two trees, a tree and an
 * overflow chain, or a tree and the freelist: the allocator would hand a live page out and a
 * commit would overwrite it), a page claimed by nothing, a reference outside the file, a page of
 * the wrong kind where a tree reaches it (a leaf where an interior page belongs, or the reverse; a
 * page of a table tree in an index tree), a cell pointer or overflow pointer outside its page, a
 * freelist whose length is not the header's, a file shorter than its header says.
 *
 * It does not check what lies inside a page beyond that (the order of keys, the records, the free
 * space): damage there stays inside that page when SQLite writes to it, and SQLite's own check
 * finds it.
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

/** What a page says about other pages, read as a b-tree page (whether or not it is one). */
interface ParsedPage {
  /** Child pages of an interior page, the right-most last. */
  readonly children: readonly number[];
  /** Overflow chains that start in this page's cells: first page, number of pages. */
  readonly overflow: readonly (readonly [number, number])[];
  /** Why this page cannot be the b-tree page its type byte says, if it cannot. */
  readonly malformed: string | null;
}

const NOTHING: ParsedPage = { children: [], overflow: [], malformed: null };
const malformed = (why: string): ParsedPage => ({ children: [], overflow: [], malformed: why });

class PageMapper {
  private readonly problems: string[] = [];
  private pageSize = 0;
  private usable = 0;
  private pageCount = 0;
  private lockPage = 0;
  private freelistHead = 0;
  private freelistCount = 0;
  /** Type byte of every page read as a b-tree page. */
  private type = new Uint8Array(0);
  /** First four bytes of every page: the next page of an overflow chain. */
  private next = new Uint32Array(0);
  private readonly parsed = new Map<number, ParsedPage>();
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
    this.scan();
    this.mapFreelist();
    for (const tree of trees) {
      if (this.problems.length >= MAX_PROBLEMS) break;
      this.mapTree(tree);
    }
    if (this.problems.length === 0) this.findUnclaimed();
    return this.result(null);
  }

  private result(unsupported: string | null): PageMap {
    return { problems: this.problems.slice(0, MAX_PROBLEMS), unsupported, pageCount: this.pageCount };
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
    if (this.fileBytes % this.pageSize !== 0) this.problem(`the file's length is not a whole number of ${this.pageSize}-byte pages`);
    const filePages = Math.floor(this.fileBytes / this.pageSize);
    // The header's count is valid only when written by the same change as the change counter.
    const headerPages = header.readUInt32BE(92) === header.readUInt32BE(24) ? header.readUInt32BE(28) : 0;
    if (headerPages !== 0 && headerPages !== filePages) {
      this.problem(`the header says ${headerPages} pages but the file holds ${filePages} (cut short or grown outside SQLite)`);
    }
    this.pageCount = headerPages !== 0 ? Math.min(headerPages, filePages) : filePages;
    this.type = new Uint8Array(this.pageCount + 1);
    this.next = new Uint32Array(this.pageCount + 1);
    this.owner = new Int32Array(this.pageCount + 1);
    // SQLite never uses the page holding the lock bytes at 1 GiB.
    this.lockPage = Math.floor(0x40000000 / this.pageSize) + 1;
    if (this.lockPage <= this.pageCount) this.claim(this.lockPage, 'the lock-byte page');
    this.freelistHead = header.readUInt32BE(32);
    this.freelistCount = header.readUInt32BE(36);
    return null;
  }

  /** Reads every page once, in file order, and keeps what each says about other pages. */
  private scan(): void {
    const buffer = Buffer.alloc(CHUNK_PAGES * this.pageSize);
    for (let first = 1; first <= this.pageCount; first += CHUNK_PAGES) {
      const pages = Math.min(CHUNK_PAGES, this.pageCount - first + 1);
      const bytes = readSync(this.fd, buffer, 0, pages * this.pageSize, (first - 1) * this.pageSize);
      for (let i = 0; i < pages && (i + 1) * this.pageSize <= bytes; i++) {
        const n = first + i;
        if (n === this.lockPage) continue;
        const page = buffer.subarray(i * this.pageSize, (i + 1) * this.pageSize);
        const at = n === 1 ? 100 : 0;
        this.next[n] = page.readUInt32BE(0);
        const type = page.readUInt8(at);
        this.type[n] = type;
        const parsed = this.parse(page, at, type);
        if (parsed !== NOTHING) this.parsed.set(n, parsed);
      }
    }
  }

  /**
   * What a page of this type says about other pages; NOTHING when it names none. Its space must
   * add up as SQLite's own check requires (cells and free blocks inside the content area, none
   * overlapping, the gaps between them equal to the fragment count of the header): a free block
   * laid over a cell, say, would let SQLite write a new cell over an old one, and the bytes it
   * writes could then be read as a child or overflow pointer nobody checked.
   */
  private parse(page: Buffer, at: number, type: number): ParsedPage {
    const interior = type === INDEX_INTERIOR || type === TABLE_INTERIOR;
    if (!interior && type !== INDEX_LEAF && type !== TABLE_LEAF) return NOTHING;
    const u = this.usable;
    const cells = page.readUInt16BE(at + 3);
    const pointers = at + (interior ? 12 : 8);
    const contentStart = page.readUInt16BE(at + 5) || 65536;
    if (pointers + 2 * cells > contentStart || contentStart > u) return malformed(`its ${cells} cell pointers and content start ${contentStart} do not fit`);
    const children: number[] = [];
    const overflow: (readonly [number, number])[] = [];
    const spans = this.spans.length >= cells + u / 4 ? this.spans : (this.spans = new Float64Array(cells + u / 4));
    let n = 0;
    for (let i = 0; i < cells; i++) {
      const cell = page.readUInt16BE(pointers + 2 * i);
      if (cell < contentStart || cell > u - 4) return malformed(`its cell ${i} at ${cell} lies outside the content area`);
      let at2 = cell;
      if (interior) {
        children.push(page.readUInt32BE(cell));
        at2 += 4;
      }
      let size: number;
      if (type === TABLE_INTERIOR) {
        size = at2 + varintLength(page, at2) - cell;
      } else {
        const sized = payloadSize(page, at2);
        if (sized === null) return malformed(`its cell ${i} claims a payload of more than ${MAX_PAYLOAD} bytes`);
        const [payload, length] = sized;
        at2 += length;
        if (type === TABLE_LEAF) at2 += varintLength(page, at2);
        const chain = this.overflowOf(payload, type === TABLE_LEAF);
        if (chain === null) {
          size = Math.max(4, at2 + payload - cell);
        } else {
          size = at2 + chain.local + 4 - cell;
          if (cell + size > u) return malformed(`the overflow pointer of its cell ${i} lies outside the page`);
          overflow.push([page.readUInt32BE(cell + size - 4), chain.pages]);
        }
      }
      if (cell + size > u) return malformed(`its cell ${i} at ${cell} runs past the end of the page`);
      spans[n++] = cell * 65536 + (cell + size - 1);
    }
    for (let free = page.readUInt16BE(at + 1); free !== 0; ) {
      if (free < contentStart || free > u - 4) return malformed(`a free block at ${free} lies outside the content area`);
      const next = page.readUInt16BE(free);
      const size = page.readUInt16BE(free + 2);
      if (size < 4 || free + size > u) return malformed(`the free block at ${free} has size ${size}`);
      if (next !== 0 && next <= free + size + 3) return malformed(`its free blocks are not in ascending order at ${free}`);
      if (n >= spans.length) return malformed('it has more free blocks than fit');
      spans[n++] = free * 65536 + (free + size - 1);
      free = next;
    }
    // Cells are mostly laid down from the page's end in pointer order: sorting is then a reversal.
    let descending = true;
    for (let i = 1; i < n && descending; i++) descending = (spans[i] ?? 0) < (spans[i - 1] ?? 0);
    const sorted = descending ? spans.subarray(0, n).reverse() : spans.subarray(0, n).sort();
    let end = contentStart - 1;
    let gaps = 0;
    for (const span of sorted) {
      const start = Math.floor(span / 65536);
      if (start <= end) return malformed(`byte ${start} is used twice`);
      gaps += start - end - 1;
      end = span % 65536;
    }
    gaps += u - end - 1;
    if (gaps !== page.readUInt8(at + 7)) return malformed(`its fragmented bytes are ${gaps}, reported as ${page.readUInt8(at + 7)}`);
    if (interior) children.push(page.readUInt32BE(at + 8));
    return children.length === 0 && overflow.length === 0 ? NOTHING : { children, overflow, malformed: null };
  }

  /** Spans (start × 65536 + end) of one page's cells and free blocks, reused from page to page. */
  private spans = new Float64Array(0);

  /**
   * A cell whose payload does not fit in its page keeps `local` bytes there and continues on a
   * chain of `pages` overflow pages (SQLite's cell size rules: table leaves keep more).
   */
  private overflowOf(payload: number, tableLeaf: boolean): { readonly local: number; readonly pages: number } | null {
    const u = this.usable;
    const maxLocal = tableLeaf ? u - 35 : Math.floor(((u - 12) * 64) / 255) - 23;
    if (payload <= maxLocal) return null;
    const minLocal = Math.floor(((u - 12) * 32) / 255) - 23;
    let local = minLocal + ((payload - minLocal) % (u - 4));
    if (local > maxLocal) local = minLocal;
    return { local, pages: Math.ceil((payload - local) / (u - 4)) };
  }

  /** Trunk pages list leaf pages; both are free and must belong to nothing else. */
  private mapFreelist(): void {
    let seen = 0;
    const perTrunk = this.usable / 4 - 2;
    const page = Buffer.alloc(this.pageSize);
    for (let trunk = this.freelistHead; trunk !== 0; ) {
      if (!this.claim(trunk, 'the freelist')) return;
      readSync(this.fd, page, 0, this.pageSize, (trunk - 1) * this.pageSize);
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
   * Level by level from the root. SQLite's b-trees are balanced: the depth of the leftmost leaf is
   * every leaf's depth, so every page above it must be an interior page and every page at it a leaf.
   */
  private mapTree(tree: TreeToMap): void {
    if (!this.claim(tree.root, tree.name)) return;
    const family = familyOf(this.type[tree.root] ?? 0);
    if (family === null) {
      this.problem(`${tree.name}: its root page ${tree.root} has page type ${this.type[tree.root]}`);
      return;
    }
    const depth = this.depthOf(tree);
    if (depth === null) return;
    let level = [tree.root];
    for (let d = 0; d <= depth && level.length > 0; d++) {
      const next: number[] = [];
      const want = d === depth ? family.leaf : family.interior;
      for (const n of level) {
        if (this.problems.length >= MAX_PROBLEMS) return;
        if (this.type[n] !== want) {
          this.problem(`${tree.name}: page ${n} has page type ${this.type[n]} where type ${want} belongs`);
          continue;
        }
        const parsed = this.parsed.get(n) ?? NOTHING;
        if (parsed.malformed !== null) {
          this.problem(`${tree.name}: page ${n} is malformed (${parsed.malformed})`);
          continue;
        }
        for (const child of parsed.children) if (this.claim(child, tree.name)) next.push(child);
        for (const [start, pages] of parsed.overflow) this.claimChain(tree.name, start, pages);
      }
      level = next;
    }
  }

  /** Levels below the root down to the leftmost leaf (0: the root is a leaf), or null on damage. */
  private depthOf(tree: TreeToMap): number | null {
    let n = tree.root;
    for (let depth = 0; depth < 64; depth++) {
      const type = this.type[n] ?? 0;
      if (type === INDEX_LEAF || type === TABLE_LEAF) return depth;
      const parsed = this.parsed.get(n);
      if (parsed?.malformed) {
        this.problem(`${tree.name}: page ${n} is malformed (${parsed.malformed})`);
        return null;
      }
      const first = parsed?.children[0];
      if (first === undefined || first < 1 || first > this.pageCount) {
        this.problem(`${tree.name}: the leftmost path from page ${tree.root} breaks at page ${n} (type ${type})`);
        return null;
      }
      n = first;
    }
    this.problem(`${tree.name}: deeper than 64 levels`);
    return null;
  }

  private claimChain(owner: string, start: number, pages: number): void {
    let n = start;
    for (let left = pages; left > 0; left--) {
      if (!this.claim(n, `${owner} (overflow)`)) return;
      n = this.next[n] ?? 0;
    }
  }

  /** SQLite's own check calls a page that nothing names "never used": the file is not what SQLite wrote. */
  private findUnclaimed(): void {
    let count = 0;
    let first = 0;
    for (let n = 1; n <= this.pageCount; n++) {
      if (this.owner[n] !== 0) continue;
      if (count++ === 0) first = n;
    }
    if (count > 0) this.problem(`${count} page(s) belong to no tree, overflow chain or the freelist (the first: page ${first})`);
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
}

function familyOf(rootType: number): { readonly interior: number; readonly leaf: number } | null {
  if (rootType === INDEX_INTERIOR || rootType === INDEX_LEAF) return { interior: INDEX_INTERIOR, leaf: INDEX_LEAF };
  if (rootType === TABLE_INTERIOR || rootType === TABLE_LEAF) return { interior: TABLE_INTERIOR, leaf: TABLE_LEAF };
  return null;
}

/**
 * A cell's payload size and the length of its varint, as SQLite's cell-size code reads it, or null
 * above {@link MAX_PAYLOAD}. SQLite reads the ninth byte of this varint as 7 bits, not 8, and
 * keeps 32 bits: a size the map read differently from SQLite would give the cell a different
 * extent, and a write based on SQLite's extent could land in a cell the map took as checked. SQLite
 * never writes a payload this large (its default length limit is 10^9 bytes), so none is accepted.
 */
function payloadSize(page: Buffer, at: number): [number, number] | null {
  let value = 0;
  for (let i = 0; i < 4; i++) {
    const byte = page[at + i] ?? 0;
    value = value * 128 + (byte & 0x7f);
    if ((byte & 0x80) === 0) return [value, i + 1];
  }
  return null;
}

/** Bytes of a rowid varint (1 to 9: SQLite stops after the ninth whatever its high bit). */
function varintLength(page: Buffer, at: number): number {
  for (let i = 0; i < 8; i++) if (((page[at + i] ?? 0) & 0x80) === 0) return i + 1;
  return 9;
}
