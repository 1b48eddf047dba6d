/**
 * Versioned migrations of the PostgreSQL store, applied in order at start under an advisory lock
 * (see `postgres-migrations.ts`). The layout follows the embedded store's: one event per request
 * (a number range), per-number rows only for numbers that left the plain "issued" state.
 * `%s` is the schema name (quoted by the caller). Never edit a shipped migration: add one.
 */
export interface Migration {
  readonly version: number;
  readonly description: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    description: 'series, events, numbers, batches, totals, idempotency records, settings, meta',
    sql: `
CREATE TABLE %s.meta (
  key   text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE %s.series (
  name       text PRIMARY KEY,
  start      bigint NOT NULL,
  hwm        bigint NOT NULL,
  version    bigint NOT NULL,
  event_seq  bigint NOT NULL,
  last_hash  text NOT NULL,
  issued     bigint NOT NULL DEFAULT 0,
  refilled   bigint NOT NULL DEFAULT 0,
  released   bigint NOT NULL DEFAULT 0,
  voided     bigint NOT NULL DEFAULT 0,
  closed_at  bigint,
  last_ts    bigint NOT NULL DEFAULT 0
);

CREATE TABLE %s.events (
  series       text NOT NULL,
  seq          bigint NOT NULL,
  ts           bigint NOT NULL,
  type         text NOT NULL,
  first        bigint,
  last         bigint,
  site_id      text,
  partition_id text,
  invoice_type text,
  reason       text,
  request_id   text,
  batch_id     text NOT NULL,
  node         text NOT NULL,
  allocation   bigint,
  actor        text,
  prev_hash    text NOT NULL,
  hash         text NOT NULL,
  PRIMARY KEY (series, seq)
);
-- Holder of a counter number: the issue range with the greatest first <= n.
CREATE INDEX events_issue_first ON %s.events (series, first) WHERE type = 'issue';
CREATE INDEX events_first ON %s.events (series, first);

CREATE TABLE %s.numbers (
  series       text NOT NULL,
  number       bigint NOT NULL,
  status       text NOT NULL,
  site_id      text NOT NULL,
  partition_id text NOT NULL,
  invoice_type text NOT NULL,
  reason       text,
  changed_at   bigint NOT NULL,
  grant_seq    bigint NOT NULL DEFAULT 0,
  previous     text,
  PRIMARY KEY (series, number)
);
CREATE INDEX numbers_status ON %s.numbers (series, status, number);

CREATE TABLE %s.batches (
  batch_id     text PRIMARY KEY,
  series       text NOT NULL,
  version      bigint NOT NULL,
  committed_at bigint NOT NULL
);

CREATE TABLE %s.totals (
  series       text NOT NULL,
  site_id      text NOT NULL,
  partition_id text NOT NULL,
  invoice_type text NOT NULL,
  issued       bigint NOT NULL DEFAULT 0,
  refilled     bigint NOT NULL DEFAULT 0,
  released     bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (series, site_id, partition_id, invoice_type)
);

-- Idempotency keys: one request per key across every series. The key alone is the primary key,
-- so two commits taking one key at once cannot both land (the second waits on the first's row).
CREATE TABLE %s.requests (
  key          text PRIMARY KEY,
  series       text NOT NULL,
  record       text NOT NULL,
  committed_at bigint NOT NULL
);
CREATE INDEX requests_age ON %s.requests (committed_at);

CREATE TABLE %s.settings (
  key   text PRIMARY KEY,
  value text NOT NULL
);
`,
  },
  {
    version: 2,
    description: 'series.archive: where an archived series went',
    sql: `ALTER TABLE %s.series ADD COLUMN IF NOT EXISTS archive text;`,
  },
];

/**
 * For numbers `$2` of series `$1`, the range event of `type` that may hold each: the one with the
 * greatest first <= n (a number without one is absent), in the schema `q` (quoted). The type is a
 * literal, not a parameter: the partial index on issue events needs it (a test checks the plan).
 */
export function rangeLookupSql(q: string, type: 'issue' | 'import'): string {
  return `SELECT n.num, e.* FROM unnest($2::bigint[]) AS n(num)
    CROSS JOIN LATERAL (SELECT * FROM ${q}.events WHERE series = $1 AND type = '${type}' AND first <= n.num ORDER BY first DESC LIMIT 1) e`;
}

/** The newest schema this seqd knows; a database migrated further is refused. */
export const LATEST_SCHEMA = MIGRATIONS[MIGRATIONS.length - 1]?.version ?? 0;
