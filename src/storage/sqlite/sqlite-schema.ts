/**
 * Schema of the embedded store. History is compact: one event per request (a number range),
 * per-number rows only for numbers that left the plain "issued" state (open, void, refilled).
 */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS series (
  name       TEXT PRIMARY KEY,
  start      INTEGER NOT NULL,
  hwm        INTEGER NOT NULL,
  version    INTEGER NOT NULL,
  event_seq  INTEGER NOT NULL,
  last_hash  TEXT NOT NULL,
  issued     INTEGER NOT NULL DEFAULT 0,
  refilled   INTEGER NOT NULL DEFAULT 0,
  released   INTEGER NOT NULL DEFAULT 0,
  voided     INTEGER NOT NULL DEFAULT 0,
  closed_at  INTEGER,
  archive    TEXT
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS events (
  series       TEXT NOT NULL,
  seq          INTEGER NOT NULL,
  ts           INTEGER NOT NULL,
  type         TEXT NOT NULL,
  first        INTEGER,
  last         INTEGER,
  site_id      TEXT,
  partition_id TEXT,
  invoice_type TEXT,
  reason       TEXT,
  request_id   TEXT,
  batch_id     TEXT NOT NULL,
  node         TEXT NOT NULL,
  prev_hash    TEXT NOT NULL,
  hash         TEXT NOT NULL,
  PRIMARY KEY (series, seq)
) WITHOUT ROWID;

-- Holder of a counter number: the issue range with the greatest first <= n.
CREATE INDEX IF NOT EXISTS events_issue_first ON events (series, first) WHERE type = 'issue';
CREATE INDEX IF NOT EXISTS events_first ON events (series, first);

CREATE TABLE IF NOT EXISTS numbers (
  series       TEXT NOT NULL,
  number       INTEGER NOT NULL,
  status       TEXT NOT NULL,
  site_id      TEXT NOT NULL,
  partition_id TEXT NOT NULL,
  invoice_type TEXT NOT NULL,
  reason       TEXT,
  changed_at   INTEGER NOT NULL,
  PRIMARY KEY (series, number)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS numbers_status ON numbers (series, status, number);

CREATE TABLE IF NOT EXISTS batches (
  batch_id     TEXT PRIMARY KEY,
  series       TEXT NOT NULL,
  version      INTEGER NOT NULL,
  committed_at INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS totals (
  series       TEXT NOT NULL,
  site_id      TEXT NOT NULL,
  partition_id TEXT NOT NULL,
  invoice_type TEXT NOT NULL,
  issued       INTEGER NOT NULL DEFAULT 0,
  refilled     INTEGER NOT NULL DEFAULT 0,
  released     INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (series, site_id, partition_id, invoice_type)
) WITHOUT ROWID;

-- Idempotency keys: a retried request gets its original outcome back until the record expires.
CREATE TABLE IF NOT EXISTS requests (
  series       TEXT NOT NULL,
  key          TEXT NOT NULL,
  record       TEXT NOT NULL,
  committed_at INTEGER NOT NULL,
  PRIMARY KEY (series, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS requests_age ON requests (committed_at);
-- A key names one request across all series: looked up, and kept unique, by key alone.
CREATE INDEX IF NOT EXISTS requests_key ON requests (key, committed_at);

CREATE TABLE IF NOT EXISTS settings (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
`;

/**
 * 2: allocations on events and number records, the series' clock, keys spanning series. 3: events
 * record who acted (`actor`, in their hash: a seqd before it would take them for edited). 4: a series
 * may be archived (`archive`: a seqd before it would not refuse ops on one). A file written by a
 * newer seqd is refused; an older one is brought up to this on open.
 */
export const SCHEMA_VERSION = '4';

/**
 * The range event (an issue, or a legacy import) that may hold number `?2` of series `?1`: the one
 * with the greatest first <= n. The issue lookup names its partial index: without statistics
 * SQLite picks `events_first` and walks back through every other event to the nearest issue. The
 * import lookup runs only below every issue range (an import starts a series that issued
 * nothing), where few events lie. A test checks the plan.
 */
export const RANGE_LOOKUP_SQL = {
  issue: "SELECT * FROM events INDEXED BY events_issue_first WHERE series = ? AND type = 'issue' AND first <= ? ORDER BY first DESC LIMIT 1",
  import: "SELECT * FROM events WHERE series = ? AND type = 'import' AND first <= ? ORDER BY first DESC LIMIT 1",
} as const;

/**
 * Columns added after schema version 1 shipped: a store created before them gets them on open
 * (CREATE TABLE IF NOT EXISTS leaves an existing table as it is).
 */
export const ADDED_COLUMNS: readonly { table: string; column: string; ddl: string }[] = [
  { table: 'series', column: 'closed_at', ddl: 'ALTER TABLE series ADD COLUMN closed_at INTEGER' },
  // The allocation a number belongs to, and the one a release or confirm acted on (0 / null: unknown).
  { table: 'numbers', column: 'grant_seq', ddl: 'ALTER TABLE numbers ADD COLUMN grant_seq INTEGER NOT NULL DEFAULT 0' },
  { table: 'events', column: 'allocation', ddl: 'ALTER TABLE events ADD COLUMN allocation INTEGER' },
  // A refilled number's previous hold (JSON), so a late repeat of its release is recognised.
  { table: 'numbers', column: 'previous', ddl: 'ALTER TABLE numbers ADD COLUMN previous TEXT' },
  // The series' clock: time of its last event (0 in stores written before it was kept).
  { table: 'series', column: 'last_ts', ddl: 'ALTER TABLE series ADD COLUMN last_ts INTEGER NOT NULL DEFAULT 0' },
  // Who caused the event: an API key's name or a system actor (null: none, or written before).
  { table: 'events', column: 'actor', ddl: 'ALTER TABLE events ADD COLUMN actor TEXT' },
  // Where an archived series went (its ArchiveMark as JSON; null: not archived).
  { table: 'series', column: 'archive', ddl: 'ALTER TABLE series ADD COLUMN archive TEXT' },
];
