import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { ADDED_COLUMNS, SCHEMA_VERSION, SQLITE_SCHEMA } from './sqlite-schema.js';

/** Versions a seqd wrote into `meta`; anything else there is damage. */
const KNOWN_VERSIONS: ReadonlySet<string> = new Set(Array.from({ length: Number(SCHEMA_VERSION) }, (_, i) => String(i + 1)));
/**
 * Objects seqd does not make but leaves as they are, by type and name, with their SQL: an index
 * of one earlier build (SQLite keeps it up to date; nothing reads it), and the statistics tables
 * of an operator's ANALYZE (they steer SQLite's choice of index, not what a query returns).
 */
const TOLERATED_OBJECTS: ReadonlyMap<string, string> = new Map([
  ['index events_import_first', "CREATE INDEX events_import_first ON events (series, first) WHERE type = 'import'"],
  ['table sqlite_stat1', 'CREATE TABLE sqlite_stat1(tbl,idx,stat)'],
  ['table sqlite_stat4', 'CREATE TABLE sqlite_stat4(tbl,idx,neq,nlt,ndlt,sample)'],
]);
/** Tables a file of schema version 1 may lack: the first build had no idempotency records. */
const LATER_THAN_V1: ReadonlySet<string> = new Set(['requests']);

interface SchemaRow {
  readonly type: string;
  readonly name: string;
  readonly sql: string;
}

/** SQLite's whitespace only: to SQLite any other character (a no-break space) is part of a name. */
const fold = (sql: string): string => sql.replace(/[ \t\n\f\r]+/g, ' ').trim();
/** seqd writes its schema in printable ASCII; anything else in it is damage. */
const FOREIGN_CHARACTER = /[^\x20-\x7e\t\n\f\r]/;

/**
 * A CREATE TABLE text cut into its head (up to the opening parenthesis), its items (column
 * definitions and table constraints, whitespace folded) and its tail (after the closing one).
 * Null when it is not of that shape.
 */
function partsOf(sql: string): { head: string; items: string[]; tail: string } | null {
  const open = sql.indexOf('(');
  const close = sql.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const items: string[] = [];
  let depth = 0;
  let from = open + 1;
  for (let i = from; i < close; i++) {
    const c = sql[i];
    if (c === '(') depth++;
    else if (c === ')') depth--;
    else if (c === ',' && depth === 0) {
      items.push(fold(sql.slice(from, i)));
      from = i + 1;
    }
  }
  items.push(fold(sql.slice(from, close)));
  return { head: fold(sql.slice(0, open)), items, tail: fold(sql.slice(close + 1)) };
}

interface TableShape {
  readonly head: string;
  readonly tail: string;
  /** Column definitions every version made, in order. */
  readonly first: readonly string[];
  /** The orders in which a file may hold the columns added since (see `addedOrders`). */
  readonly addedOrders: readonly (readonly string[])[];
  readonly constraints: readonly string[];
}

interface Expected {
  readonly tables: ReadonlyMap<string, TableShape>;
  /** Table → column → what SQLite made of its definition (type, NOT NULL, default, key position). */
  readonly columns: ReadonlyMap<string, ReadonlyMap<string, string>>;
  /** `type name` → SQL, whitespace folded (indexes). */
  readonly indexes: ReadonlyMap<string, string>;
}

const isConstraint = (item: string): boolean => /^(PRIMARY KEY|UNIQUE|CHECK|FOREIGN KEY|CONSTRAINT)\b/i.test(item);
const columnOf = (item: string): string => item.split(' ')[0] ?? '';

/**
 * Added columns reach a file in the order of ADDED_COLUMNS (each version appends its own), except
 * those the file's first version already wrote inline, which come first, in the order of the
 * current CREATE text (every earlier text held a leading part of them).
 */
function addedOrders(table: string, inline: readonly string[]): string[][] {
  const added = ADDED_COLUMNS.filter((a) => a.table === table).map((a) => a.column);
  return Array.from({ length: inline.length + 1 }, (_, k) => [...inline.slice(0, k), ...added.filter((c) => !inline.slice(0, k).includes(c))]);
}

let expected: Expected | null = null;
/** The schema a new file gets, from a database made in memory the way `openDatabase` makes one. */
function seqdSchema(): Expected {
  if (expected) return expected;
  const db = new Database(':memory:');
  try {
    db.exec(SQLITE_SCHEMA);
    const inlineBeforeAdding = new Map(rowsOf(db).map((r) => [r.name, partsOf(r.sql)?.items.map(columnOf) ?? []]));
    addMissingColumns(db);
    const tables = new Map<string, TableShape>();
    const indexes = new Map<string, string>();
    for (const row of rowsOf(db)) {
      if (row.type === 'index') indexes.set(`index ${row.name}`, fold(row.sql));
      const parts = row.type === 'table' ? partsOf(row.sql) : null;
      if (!parts) continue;
      const columns = parts.items.filter((i) => !isConstraint(i));
      const added = new Set(ADDED_COLUMNS.filter((a) => a.table === row.name).map((a) => a.column));
      const inline = (inlineBeforeAdding.get(row.name) ?? []).filter((c) => added.has(c));
      const defs = new Map(columns.map((c) => [columnOf(c), c]));
      tables.set(row.name, {
        head: parts.head,
        tail: parts.tail,
        first: columns.filter((c) => !added.has(columnOf(c))),
        addedOrders: addedOrders(row.name, inline).map((order) => order.map((c) => defs.get(c) ?? c)),
        constraints: parts.items.filter(isConstraint),
      });
    }
    expected = { tables, indexes, columns: new Map([...tables.keys()].map((t) => [t, columnsAsSqliteReads(db, t)])) };
  } finally {
    db.close();
  }
  return expected;
}

/** How SQLite reads each column of a table: the check of the text, seen from SQLite's side. */
function columnsAsSqliteReads(db: Database.Database, table: string): Map<string, string> {
  const rows = db.prepare<[string], { name: string; type: string; notnull: number; dflt_value: string | null; pk: number; hidden: number }>('SELECT * FROM pragma_table_xinfo(?)').all(table);
  return new Map(rows.map((c) => [c.name, `${c.type} notnull=${c.notnull} default=${c.dflt_value ?? 'none'} pk=${c.pk} hidden=${c.hidden}`]));
}

/** Every row of the schema table, internal ones too: a file seqd made has none of those. */
function rowsOf(db: Database.Database): SchemaRow[] {
  // A definition stored as a blob is parsed by SQLite all the same; seqd writes text, so the
  // blob reads here as a definition that matches nothing.
  const text = (v: unknown): string => (typeof v === 'string' ? v : v === null ? '' : `<${typeof v} ${String(v)}>`);
  return db.prepare<[], { type: string; name: string; sql: unknown }>('SELECT type, name, sql FROM sqlite_schema').all().map((r) => ({ type: r.type, name: r.name, sql: text(r.sql) }));
}

/** Columns a store created before them gets on open (CREATE TABLE IF NOT EXISTS leaves an existing table as it is). */
export function addMissingColumns(db: Database.Database): void {
  for (const { table, column, ddl } of ADDED_COLUMNS) {
    const columns = db.prepare<[string], { name: string }>('SELECT name FROM pragma_table_info(?)').all(table);
    if (columns.some((c) => c.name === column)) continue;
    try {
      db.exec(ddl);
    } catch (error) {
      // Another instance opening the same file added it between the look and the ALTER.
      if (!/duplicate column name/i.test(String(error))) throw error;
    }
  }
}

/** What differs between a table's CREATE text and seqd's; `older`: it may lack added columns. */
function tableProblems(row: SchemaRow, shape: TableShape, older: boolean): string[] {
  const parts = partsOf(row.sql);
  if (!parts || parts.head !== shape.head || parts.tail !== shape.tail) return [`table ${row.name} is not defined as seqd defines it`];
  const columns = parts.items.filter((i) => !isConstraint(i));
  const constraints = parts.items.filter(isConstraint);
  if (constraints.join() !== shape.constraints.join()) return [`the constraints of table ${row.name} are not seqd's (${constraints.join(', ') || 'none'})`];
  // A row is read by position: the columns every version made, in their order, then the added
  // ones in an order a file can have got them in, each defined exactly as seqd defines it.
  const first = columns.slice(0, shape.first.length);
  if (first.join() !== shape.first.join()) return [`the columns of table ${row.name} are not seqd's (${first.join(', ')})`];
  const added = columns.slice(shape.first.length);
  const fits = shape.addedOrders.some((order) => (older ? added.length <= order.length : added.length === order.length) && added.every((c, i) => c === order[i]));
  return fits ? [] : [`the added columns of table ${row.name} are not seqd's (${added.join(', ') || 'none'})`];
}

/** The same from SQLite's side: every column as SQLite reads it is one of seqd's, defined as seqd defines it. */
function sqliteColumnProblems(db: Database.Database, table: string, wanted: ReadonlyMap<string, string> | undefined, older: boolean): string[] {
  const have = columnsAsSqliteReads(db, table);
  const problems = [...have].filter(([name, shape]) => wanted?.get(name) !== shape).map(([name, shape]) => `SQLite reads column "${name}" of table ${table} as ${shape}`);
  if (!older) for (const name of wanted?.keys() ?? []) if (!have.has(name)) problems.push(`SQLite finds no column ${name} in table ${table}`);
  return problems;
}

/**
 * Compares the schema of an opened file with the one seqd makes, before anything is created in
 * it: every row of `sqlite_schema`, by its type, name and SQL text (what SQLite builds the table
 * from: column order, types, constraints, collations, WITHOUT ROWID). `CREATE TABLE IF NOT EXISTS`
 * and the added columns would otherwise cover damage that no integrity check reports: a table
 * renamed in its row would be made again empty (the idempotency records: a retry of a lost reply
 * takes new numbers; the series: only the trail check stops it), a column renamed would be added
 * again with its default, columns swapped in the text would read one field as another, a
 * collation or a trigger would change which idempotency record a key finds (with NOCASE, a new
 * invoice keyed INV-A got the number of inv-a). A file written by a newer seqd is refused as such. An empty file
 * passes: it is about to be made.
 *
 * A file of the current version must match exactly; one of an earlier version (or one whose
 * creation by an earlier seqd stopped before its version was written, all its tables empty) may
 * lack what was added since, which opening adds.
 */
export function checkSchema(db: Database.Database, path: string): void {
  const rows = rowsOf(db);
  if (rows.length === 0) return;
  const hasMeta = rows.some((r) => r.type === 'table' && r.name === 'meta');
  const stored = hasMeta ? db.prepare<[], { value: unknown }>("SELECT value FROM meta WHERE key = 'schema_version'").get() : undefined;
  // seqd writes its version as text: a number or a blob there is damage, shown as such.
  const version = stored === undefined ? undefined : typeof stored.value === 'string' ? stored.value : `<${typeof stored.value}>`;
  if (version !== undefined && /^[0-9]+$/.test(version) && Number(version) > Number(SCHEMA_VERSION)) {
    throw new StoreUnavailableError(`${path} was written by a newer seqd (schema ${version}; this one knows ${SCHEMA_VERSION}): upgrade this instance`);
  }
  const wanted = seqdSchema();
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const row of rows) {
    const key = `${row.type} ${row.name}`;
    if (seen.has(key)) problems.push(`it has two ${row.type}s named ${row.name}`);
    seen.add(key);
    const table = row.type === 'table' ? wanted.tables.get(row.name) : undefined;
    if (FOREIGN_CHARACTER.test(row.name + row.sql)) problems.push(`${key} has characters seqd never writes in its definition`);
    const sql = wanted.indexes.get(key) ?? TOLERATED_OBJECTS.get(key);
    if (table === undefined && sql === undefined) problems.push(`it has a ${row.type} seqd does not make (${row.name})`);
    else if (sql !== undefined && fold(row.sql) !== sql) problems.push(`${key} is not the one seqd makes (${fold(row.sql)})`);
  }
  let older: boolean;
  let tablesMayLack: (table: string) => boolean;
  if (version === undefined) {
    // seqd makes its tables and writes the version in one transaction; a build before that did
    // it in steps, and may have stopped between them: empty tables are a creation to finish.
    const tables = rows.filter((r) => r.type === 'table' && wanted.tables.has(r.name));
    if (tables.some((t) => db.prepare(`SELECT 1 FROM "${t.name}" LIMIT 1`).get() !== undefined)) problems.push('it has seqd tables but no schema version');
    older = true;
    tablesMayLack = () => true;
  } else if (!KNOWN_VERSIONS.has(version)) {
    problems.push(`its schema version "${version}" is not one seqd wrote`);
    older = false;
    tablesMayLack = () => false;
  } else {
    older = version !== SCHEMA_VERSION;
    tablesMayLack = (table) => version === '1' && LATER_THAN_V1.has(table);
  }
  for (const [name, shape] of wanted.tables) {
    const row = rows.find((r) => r.type === 'table' && r.name === name);
    if (row) problems.push(...tableProblems(row, shape, older), ...sqliteColumnProblems(db, name, wanted.columns.get(name), older));
    else if (!tablesMayLack(name)) problems.push(`table ${name} is missing`);
  }
  for (const key of wanted.indexes.keys()) if (!older && !seen.has(key)) problems.push(`${key} is missing`);
  if (problems.length > 0) {
    throw new StoreUnavailableError(
      `${path} does not have the schema seqd makes (${problems.slice(0, 5).join('; ')}): it is damaged, or a program other than seqd changed it, and seqd does not serve from it; restore it from a backup (seqd restore)`,
    );
  }
}
