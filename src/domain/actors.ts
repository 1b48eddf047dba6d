/**
 * The actors of events no API key caused (see `AuditEvent.actor`). A configured key's name is
 * letters, digits, `.`, `_` and `-` only: a name with a colon can never be a key's.
 */
export const SYSTEM_ACTORS = {
  /** The reservation timeout released a number (`expired`). */
  expiry: 'system:expiry',
  /** A period ended: its series was closed. */
  rollover: 'system:rollover',
  /** Numbers whose answer reached nobody were released (`undelivered`). */
  undelivered: 'system:undelivered',
  /** A setting taken from the configuration at start-up. */
  config: 'system:config',
  /** `seqd change-numbering --apply`, run on the store directly (no API key). */
  changeNumbering: 'cli:change-numbering',
  /** `seqd migrate`, run on both stores directly. */
  migrate: 'cli:migrate',
  /** `seqd import-legacy`, run on the store directly. */
  importLegacy: 'cli:import-legacy',
} as const;

/**
 * What an actor may look like on the wire between instances: a key name or one of
 * {@link SYSTEM_ACTORS} (letters, digits, `.`, `_`, `-`, `:`).
 */
export const ACTOR_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$';
