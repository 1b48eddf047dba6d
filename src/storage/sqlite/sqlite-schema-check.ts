import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../../domain/errors/index.js';
import { ADDED_COLUMNS, SCHEMA_VERSION, SQLITE_SCHEMA } from './sqlite-schema.js';

/**
 * Objects an earlier seqd made that this one no longer makes: kept as they are (SQLite keeps them
 * up to date; nothing reads them). `events_import_first` was a partial index of one build.
 */
const RETIRED_OBJECTS: ReadonlySet<string> = new Set(['events_import_first']);
/** Tables a file of schema version 1 may lack: the first build had no idempotency records. */
const LATER_THAN_V1: ReadonlySet<string> = new Set(['requests']);

interface Column {
  readonly name: string;
  /** Declared type, NOT NULL, default and primary-key position: what reading a row depends on. */
  readonly shape: string;
}

interface Schema {
  /** name → type ('table', 'index', 'trigger', 'view'), internal objects (`sqlite_*`) left out. */
  readonly objects: ReadonlyMap<string, string>;
  readonly columns: ReadonlyMap<string, readonly Column[]>;
  /** Tables without rowid. */
  readonly withoutRowid: ReadonlySet<string>;
  /** Index name → its CREATE text, whitespace folded. */
  readonly indexes: ReadonlyMap<string, string>;
}

const fold = (sql: string | null): string => (sql ?? '').replace(/\s+/g, ' ').trim();

function describe(db: Database.Database): Schema {
  const rows = db.prepare<[], { type: string; name: string; sql: string | null }>("SELECT type, name, sql FROM sqlite_schema WHERE name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all();
  const columns = new Map<string, Column[]>();
  const withoutRowid = new Set<string>();
  for (const t of db.prepare<[], { name: string; wr: number }>("SELECT name, wr FROM pragma_table_list WHERE schema = 'main' AND type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\'").all()) {
    if (t.wr) withoutRowid.add(t.name);
    const info = db.prepare<[string], { name: string; type: string; notnull: number; dflt_value: string | null; pk: number }>('SELECT name, type, "notnull", dflt_value, pk FROM pragma_table_info(?) ORDER BY cid').all(t.name);
    columns.set(t.name, info.map((c) => ({ name: c.name, shape: `${c.type} notnull=${c.notnull} default=${c.dflt_value ?? 'none'} pk=${c.pk}` })));
  }
  return {
    objects: new Map(rows.map((r) => [r.name, r.type])),
    columns,
    withoutRowid,
    indexes: new Map(rows.filter((r) => r.type === 'index').map((r) => [r.name, fold(r.sql)])),
  };
}

let expected: Schema | null = null;
/** The schema a new file gets, read from a database made in memory the way `openDatabase` makes one. */
function seqdSchema(): Schema {
  if (expected) return expected;
  const db = new Database(':memory:');
  try {
    db.exec(SQLITE_SCHEMA);
    addMissingColumns(db);
    expected = describe(db);
  } finally {
    db.close();
  }
  return expected;
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

const isAdded = (table: string, column: string): boolean => ADDED_COLUMNS.some((a) => a.table === table && a.column === column);

/** What differs in one table's columns; `older`: a file of an earlier version may lack the added ones. */
function columnProblems(table: string, actual: readonly Column[], wanted: readonly Column[], older: boolean): string[] {
  const problems: string[] = [];
  const want = new Map(wanted.map((c) => [c.name, c.shape]));
  const have = new Set(actual.map((c) => c.name));
  for (const c of actual) {
    const shape = want.get(c.name);
    if (shape === undefined) problems.push(`table ${table} has a column seqd does not make (${c.name})`);
    else if (shape !== c.shape) problems.push(`column ${c.name} of table ${table} is ${c.shape}, not ${shape}`);
  }
  for (const c of wanted) if (!have.has(c.name) && !(older && isAdded(table, c.name))) problems.push(`column ${c.name} of table ${table} is missing`);
  // A row is read by position: the first columns stay in the order the first version made them,
  // and the ones added since come after them (in the order each file got them).
  const first = wanted.filter((c) => !isAdded(table, c.name)).map((c) => c.name);
  const leading = actual.slice(0, first.length).map((c) => c.name);
  if (problems.length === 0 && leading.join() !== first.join()) problems.push(`the columns of table ${table} are in another order (${leading.join(', ')})`);
  return problems;
}

/**
 * Compares the schema of an opened file with the one seqd makes, before anything is created in
 * it. `CREATE TABLE IF NOT EXISTS` and the added columns would otherwise cover damage to
 * `sqlite_schema` that no integrity check reports: a table renamed in its row would be made again
 * empty (a series table made again restarts every series: numbers given twice), a column renamed
 * would be added again with its default (every series read as never archived), columns swapped in
 * the text would read one field as another (the HWM from the start). A file written by a newer
 * seqd is refused as such. An empty file (or one whose creation stopped before its first commit)
 * passes: it is about to be made.
 *
 * A file of the current version must match exactly; one of an earlier version may lack what was
 * added since (tables, added columns, indexes), which opening adds.
 */
export function checkSchema(db: Database.Database, path: string): void {
  const actual = describe(db);
  if (actual.objects.size === 0) return;
  const version = actual.objects.get('meta') === 'table' ? db.prepare<[], { value: string }>("SELECT value FROM meta WHERE key = 'schema_version'").get()?.value : undefined;
  if (version !== undefined && Number(version) > Number(SCHEMA_VERSION)) {
    throw new StoreUnavailableError(`${path} was written by a newer seqd (schema ${version}; this one knows ${SCHEMA_VERSION}): upgrade this instance`);
  }
  const wanted = seqdSchema();
  const problems: string[] = [];
  for (const [name, type] of actual.objects) {
    if (wanted.objects.get(name) !== type && !RETIRED_OBJECTS.has(name)) problems.push(`it has a ${type} seqd does not make (${name})`);
  }
  if (version === undefined) {
    // seqd makes its tables and writes the version in one transaction; a build before that did
    // it in steps, and may have stopped between them: empty tables are a creation to finish.
    const empty = [...actual.columns.keys()].every((t) => wanted.columns.has(t) && db.prepare(`SELECT 1 FROM "${t}" LIMIT 1`).get() === undefined);
    if (problems.length === 0 && empty) return;
    problems.push('it has seqd tables but no schema version');
  } else {
    const older = version !== SCHEMA_VERSION;
    for (const [table, columns] of wanted.columns) {
      const have = actual.columns.get(table);
      if (have === undefined) {
        if (!(version === '1' && LATER_THAN_V1.has(table))) problems.push(`table ${table} is missing`);
        continue;
      }
      if (!actual.withoutRowid.has(table)) problems.push(`table ${table} has a rowid`);
      problems.push(...columnProblems(table, have, columns, older));
    }
    for (const [index, sql] of wanted.indexes) {
      const have = actual.indexes.get(index);
      if (have === undefined ? !older : have !== sql) problems.push(have === undefined ? `index ${index} is missing` : `index ${index} is not the one seqd makes (${have})`);
    }
  }
  if (problems.length > 0) {
    throw new StoreUnavailableError(
      `${path} does not have the schema seqd makes (${problems.slice(0, 5).join('; ')}): it is damaged and seqd does not serve from it; restore it from a backup (seqd restore)`,
    );
  }
}
