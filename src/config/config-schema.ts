import { z } from 'zod';
import { isTimeZone, prefixProblem } from '../domain/number-format.js';
import { ROLLOVER_PERIODS, SERIES_DIMENSIONS } from '../domain/series-strategy.js';
import { GAP_POLICIES } from '../domain/types.js';

/**
 * The configuration as written in `application*.yml` (kebab-case keys, as in the seed).
 * Unknown keys are refused so that a typo never silently falls back to a default.
 */
const ID = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'must be 1-64 letters, digits, ".", "_" or "-"');

const site = z.strictObject({
  id: ID,
  partitions: z
    .array(ID)
    .min(1, 'a site needs at least one partition')
    .refine((p) => new Set(p).size === p.length, 'partition ids must be unique within a site'),
});

const format = z.strictObject({
  /** Text before the number; tokens {site}, {partition}, {type}, {yyyy}, {mm} (see number-format.ts). */
  prefix: z
    .string()
    .max(64)
    .regex(/^[^\s]*$/, 'no spaces')
    .superRefine((p, ctx) => {
      const problem = prefixProblem(p);
      if (problem) ctx.addIssue({ code: 'custom', message: problem });
    })
    .default(''),
  year: z.boolean().default(false),
  padding: z.number().int().min(0).max(20).default(0),
  separator: z.string().max(3).default('-'),
  'time-zone': z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Berlin').default('UTC'),
});

/** How requests map to series (counters); the default is one global series that never ends. */
const series = z.strictObject({
  /**
   * Dimensions that split the numbering: any of site, partition, invoice-type (empty: one series);
   * partition only with site (partition ids are per site).
   */
  'split-by': z
    .array(z.enum(SERIES_DIMENSIONS))
    .refine((d) => new Set(d).size === d.length, 'each dimension once')
    .default([]),
  rollover: z
    .strictObject({
      enabled: z.boolean().default(false),
      period: z.enum(ROLLOVER_PERIODS).default('yearly'),
      /** Midnight of this zone starts a period. */
      'time-zone': z.string().refine(isTimeZone, 'an IANA time zone such as Europe/Berlin').default('UTC'),
      /**
       * How long after a period ends its series are closed (open gaps voided, final report), so
       * that an instance whose clock is a little behind still finds its series open.
       */
      'close-after-seconds': z.number().int().min(0).max(31 * 86400).default(300),
      /** How often ended periods are looked for (each look lists the series). */
      'check-interval-seconds': z.number().int().min(1).max(3600).default(30),
    })
    .prefault({}),
  /** Formats by series base name (`global`, `site-1`, `site-1:partition-a`), over `sequence.format`. */
  formats: z.record(z.string(), format).default({}),
});

/** `read` gives nothing beyond what every key may do (reads, /metrics): for Prometheus and reports. */
export const ROLES = ['read', 'allocate', 'manage', 'admin', 'internal'] as const;

/** An API key as configuration holds it: its SHA-256, never the key itself. */
const apiKey = z.strictObject({
  name: ID,
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'the SHA-256 of the key, 64 lowercase hex digits (seqd hash-key prints it)'),
  roles: z.array(z.enum(ROLES)).min(1, 'at least one role'),
});

const security = z.strictObject({
  /** Every API call needs a key (production). Configured keys are enforced even when false. */
  'require-api-keys': z.boolean().default(false),
  /** HTTPS is mandatory (production): server.tls must be set. */
  'require-tls': z.boolean().default(false),
  'api-keys': z.array(apiKey).default([]),
  /** Most demo runs an instance starts per minute (429 beyond). */
  'demo-runs-per-minute': z.number().int().min(1).max(10000).default(30),
});

/** A client's TLS to its store: files of the CA to trust, and of a client certificate and key. */
const clientTls = z
  .strictObject({
    ca: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
  })
  .optional();

const postgresStore = z.strictObject({
  /**
   * postgres://user@host1:5432,host2:5432/db: hosts are tried in turn and only a read-write
   * primary is used, so a failover needs no change here. No password in the URL: see below.
   */
  url: z
    .string()
    .regex(/^postgres(ql)?:\/\/[^/]+\/[^/?]+/, 'expected postgres://user@host:port[,host:port…]/database')
    .refine((u) => !/^postgres(ql)?:\/\/[^@/]*:[^@/]*@/.test(u) && !/[?&]password=/i.test(u), 'put the password in SEQ_POSTGRES_PASSWORD or sequence.postgres.password-file, not in the URL (it would reach logs)')
    .optional(),
  /** A file holding the password (a Kubernetes or Docker secret); SEQ_POSTGRES_PASSWORD wins. */
  'password-file': z.string().min(1).optional(),
  /** Schema of seqd's tables, created and migrated at start. */
  schema: z.string().regex(/^[a-z_][a-z0-9_]{0,62}$/, 'lowercase letters, digits and _').default('seqd'),
  'pool-size': z.number().int().min(1).max(100).default(10),
  'statement-timeout-ms': z.number().int().min(100).max(600_000).default(5000),
  /**
   * A connection pooler between seqd and PostgreSQL (PgBouncer): `session` or `transaction`, its
   * pool mode. seqd then sets its settings in each transaction, not when it connects.
   */
  pooler: z.enum(['none', 'session', 'transaction']).default('none'),
  /** Commit statements as named prepared statements; default true, false with `pooler: transaction`. */
  'prepared-statements': z.boolean().optional(),
  tls: clientTls,
});

const etcd = z.strictObject({
  /** seqd starts and supervises a local 3-member cluster (HA POC). */
  embedded: z.boolean().default(true),
  'data-directory': z.string().min(1).default('data/etcd-cluster'),
  // "etcd-0:2379" parses as a URL with the scheme "etcd-0:": ask for the scheme plainly.
  endpoints: z.array(z.string().regex(/^https?:\/\/[^/]+/, 'expected http://host:port or https://host:port')).default([]),
  members: z.number().int().min(1).max(7).default(3),
  'client-port-base': z.number().int().min(1024).max(65000).default(23790),
  'peer-port-base': z.number().int().min(1024).max(65000).default(23800),
  'heartbeat-interval-ms': z.number().int().min(10).max(5000).default(100),
  'election-timeout-ms': z.number().int().min(50).max(50000).default(1000),
  'request-timeout-ms': z.number().int().min(50).max(60000).default(1000),
  /**
   * Batches of one series that may be committing at once: 2 sends the next batch, planned on the
   * one still committing, before that one's answer (it lands only directly on it). Worth it when
   * etcd's round trip is long and seqd has CPU to spare; on one machine whose cores are all busy
   * (seqd, three members and the load on 2 cores) it measured about 10 % slower: see
   * docs/PERFORMANCE.md.
   */
  'pipeline-depth': z.number().int().min(1).max(2).default(1),
  /**
   * Batches of several series that are ready together commit as one etcd transaction (each
   * keeps its own compare-and-swap): fewer, larger transactions. Only with pipeline-depth 1.
   */
  'combine-series': z.boolean().default(true),
  /**
   * Transactions go to the member that leads (the leader of the highest raft term the members
   * report, asked every second), not spread over all: a follower passes each one on to the
   * leader and answers once it applied it too. Speed only. After a failed call to the leader,
   * they go round the members with short deadlines until a member leads again. Measured +10 %
   * at 1 ms and +23 % at 5 ms each way between members; neutral on one machine's loopback.
   */
  'route-to-leader': z.boolean().default(true),
  /**
   * Instances send their batches to the one with the smallest node id, which commits them: two
   * instances committing to one series keep failing each other's compare-and-swap. A routing
   * hint only; the compare-and-swap still decides every commit.
   */
  'forward-commits': z.boolean().default(true),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: clientTls,
});

/** A duration: seconds as a number, or a number with s, m, h or d ("6h"); answers seconds. */
const duration = z.union([
  z.number().int().min(0),
  z
    .string()
    .regex(/^\d+[smhd]$/, 'a number of seconds, or a number with s, m, h or d (e.g. 6h)')
    .transform((s) => Number(s.slice(0, -1)) * { s: 1, m: 60, h: 3600, d: 86400 }[s.slice(-1) as 's' | 'm' | 'h' | 'd']),
]);

export const configSchema = z.strictObject({
  /** Backups the server writes by itself (see docs/operations.md, "Backup and recovery"). */
  backup: z
    .strictObject({
      /** How often (e.g. 6h); 0: never. */
      interval: duration.default(0),
      /** Where the files go; relative paths are taken from the data directory. */
      directory: z.string().min(1).default('backups'),
      /** How many of the newest backup files are kept; older ones are deleted after each new one. */
      keep: z.number().int().min(1).max(100000).default(7),
    })
    .prefault({}),
  server: z
    .strictObject({
      host: z.string().min(1).default('127.0.0.1'),
      port: z.number().int().min(0).max(65535).default(8080),
      'body-limit-bytes': z.number().int().min(1024).max(10 * 1024 * 1024).default(65536),
      /**
       * On SIGTERM, /ready answers 503 at once but requests are still served this long, so that
       * a load balancer stops sending before the port closes.
       */
      'shutdown-delay-ms': z.number().int().min(0).max(60_000).default(0),
      /**
       * The URL other seqd instances reach this one at (commit forwarding), e.g.
       * https://10.0.0.1:8443. Default: the listening address (127.0.0.1 for 0.0.0.0).
       */
      'advertise-url': z.string().url().optional(),
      /**
       * A second port for the instance-to-instance routes (`/internal/*`, commit forwarding),
       * which the API port then refuses: a firewall or network policy keeps it between instances.
       * The default advertise-url then names this port. Unset: one port serves everything.
       */
      'internal-port': z.number().int().min(0).max(65535).optional(),
      /** HTTPS: PEM files of the certificate (chain) and its private key. */
      tls: z
        .strictObject({
          cert: z.string().min(1),
          key: z.string().min(1),
          /** CA of the other instances' certificates, trusted when forwarding commits to them. */
          ca: z.string().min(1).optional(),
          /**
           * The name the other instances' certificates carry (one certificate for every pod),
           * checked instead of the host of their advertise URL, which is an IP in Kubernetes.
           */
          'peer-name': z.string().min(1).optional(),
        })
        .optional(),
    })
    .prefault({}),
  security: security.prefault({}),
  sequence: z
    .strictObject({
      'node-id': z.string().min(1).max(128).optional(),
      'data-dir': z.string().min(1).default('./data'),
      storage: z.enum(['sqlite', 'etcd', 'postgres']).default('sqlite'),
      core: z
        .strictObject({
          'global-counter-start': z.number().int().min(0).max(Number.MAX_SAFE_INTEGER - 1).default(1),
          'gap-recovery-enabled': z.boolean().default(true),
          /**
           * lowest-first (when absent) | chronological | none. `gap-recovery-enabled: false` means
           * none; with another policy named as well, start-up refuses the contradiction.
           */
          'gap-policy': z.enum(GAP_POLICIES).optional(),
          'max-count': z.number().int().min(1).max(100000).default(1000),
          'gap-report-limit': z.number().int().min(1).max(1000000).default(10000),
          /** Numbers neither confirmed nor released this long are released as `expired` (0: never). */
          'reservation-timeout-seconds': z.number().min(0).max(365 * 86400).default(0),
          /** How long a request's idempotency key returns its original numbers (default 24 h). */
          'idempotency-window-seconds': z.number().int().min(60).max(90 * 86400).default(86400),
        })
        .prefault({}),
      /** How numbers are shown beside their value (`formatted` in replies); absent: not shown. */
      format: format.optional(),
      series: series.prefault({}),
      'invoice-types': z
        .strictObject({
          simulated: z.strictObject({ enabled: z.boolean().default(true) }).prefault({}),
        })
        .prefault({}),
      sites: z
        .array(site)
        .min(1, 'at least one site is needed')
        .refine((s) => new Set(s.map((x) => x.id)).size === s.length, 'site ids must be unique')
        .default([
          { id: 'site-1', partitions: ['partition-a', 'partition-b'] },
          { id: 'site-2', partitions: ['partition-a', 'partition-b'] },
        ]),
      sqlite: z
        .strictObject({
          /**
           * A file up to this size is checked whole before anything is served; a larger one has
           * its structure and the tables numbers are planned from checked before, and the whole
           * file right after start, while serving (nothing frees space until it passed; damage
           * found then stops every read and commit). 0: always in two steps.
           */
          'full-check-at-start-max-mb': z.number().int().min(0).max(1024 * 1024).default(64),
        })
        .prefault({}),
      etcd: etcd.prefault({}),
      postgres: postgresStore.prefault({}),
      demo: z
        .strictObject({
          enabled: z.boolean().default(true),
          'max-total-requests': z.number().int().min(1).max(10000000).default(100000),
          'max-threads': z.number().int().min(1).max(4096).default(256),
          'max-requests-per-thread': z.number().int().min(1).max(1000000).default(10000),
        })
        .prefault({}),
    })
    .prefault({}),
  logging: z
    .strictObject({
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      /** Relative paths are resolved against the data dir; null: no log file (containers log to stdout). */
      file: z.string().min(1).nullable().default('logs/sequential-number-poc.log'),
      console: z.boolean().default(true),
      /** text: readable lines; json: one JSON object per line, for a container's log collector. */
      'console-format': z.enum(['text', 'json']).default('text'),
    })
    .prefault({}),
});

export type RawConfig = z.input<typeof configSchema>;
export type SeqdConfig = z.output<typeof configSchema>;
