import { existsSync, readFileSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ConfigError } from '../domain/errors/index.js';
import { sha256Hex } from '../security/api-keys.js';
import { seriesBase, type SeriesStrategy } from '../domain/series-strategy.js';
import { formatTokenProblem, formatUniquenessProblem, type SeriesFormat } from '../domain/format-uniqueness.js';
import { seriesValuesOf, type NumberFormat } from '../domain/number-format.js';
import { INVOICE_TYPES } from '../domain/types.js';
import { configSchema, type SeqdConfig } from './config-schema.js';

/** The folder shipped with seqd that holds `application.yml` and its profiles. */
export const DEFAULT_CONFIG_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', 'config');

export interface LoadOptions {
  /** Profile name: overlays `application-<profile>.yml` on the base file. */
  profile?: string | undefined;
  /** Extra YAML file overlaid last (before env and flags). */
  configFile?: string | undefined;
  /** Folder holding `application*.yml`; defaults to the one shipped with seqd. */
  configDir?: string | undefined;
  port?: number | string | undefined;
  dataDir?: string | undefined;
  /** Defaults to `process.env`; only `SEQ_*` variables are read. */
  env?: NodeJS.ProcessEnv;
  /** Further overrides, deepest last (used by tests). */
  overrides?: Record<string, unknown>;
}

export interface LoadedConfig {
  readonly config: SeqdConfig;
  readonly profile: string | null;
  /** Files read, in overlay order. */
  readonly sources: readonly string[];
}

/**
 * Builds the configuration: `application.yml`, then `application-<profile>.yml`, then `--config`,
 * then env (`SEQ_PROFILE`, `SEQ_PORT`, `SEQ_DATA_DIR`, `SEQ_NODE_ID`, `SEQ_INTERNAL_PORT`, `SEQ_ADVERTISE_URL`,
 * `SEQ_ETCD_ENDPOINTS` comma-separated, `SEQ_ETCD_PASSWORD`, `SEQ_POSTGRES_URL`, `SEQD_API_KEYS`), then
 * flags. The PostgreSQL password (`SEQ_POSTGRES_PASSWORD`) is read when the store opens, never kept here. Throws {@link ConfigError}
 * naming the key and the problem when anything is invalid.
 */
export function loadConfig(options: LoadOptions = {}): LoadedConfig {
  const env = options.env ?? process.env;
  const dir = options.configDir ?? DEFAULT_CONFIG_DIR;
  const profile = options.profile ?? nonEmpty(env.SEQ_PROFILE) ?? null;
  const sources: string[] = [];
  let merged: Record<string, unknown> = {};

  const base = join(dir, 'application.yml');
  if (existsSync(base)) merged = overlay(merged, readYaml(base, sources));
  if (profile !== null) {
    if (!/^[A-Za-z0-9_-]+$/.test(profile)) throw new ConfigError('profile', `"${profile}" is not a valid profile name`);
    const file = join(dir, `application-${profile}.yml`);
    if (!existsSync(file)) throw new ConfigError('profile', `no file ${file} for profile "${profile}"`);
    merged = overlay(merged, readYaml(file, sources));
  }
  if (options.configFile !== undefined) {
    const file = resolve(options.configFile);
    if (!existsSync(file)) throw new ConfigError('--config', `file ${file} does not exist`);
    merged = overlay(merged, readYaml(file, sources));
  }

  const port = options.port ?? nonEmpty(env.SEQ_PORT);
  if (port !== undefined) {
    const key = options.port !== undefined ? '--port' : 'SEQ_PORT';
    merged = overlay(merged, { server: { port: parsePort(port, key) } });
  }
  const dataDir = options.dataDir ?? nonEmpty(env.SEQ_DATA_DIR);
  if (dataDir !== undefined) merged = overlay(merged, { sequence: { 'data-dir': dataDir } });
  const nodeId = nonEmpty(env.SEQ_NODE_ID);
  if (nodeId !== undefined) merged = overlay(merged, { sequence: { 'node-id': nodeId } });
  // What differs per instance or is secret comes from the environment in containers and pods.
  const internalPort = nonEmpty(env.SEQ_INTERNAL_PORT);
  if (internalPort !== undefined) merged = overlay(merged, { server: { 'internal-port': parsePort(internalPort, 'SEQ_INTERNAL_PORT') } });
  const advertise = nonEmpty(env.SEQ_ADVERTISE_URL);
  if (advertise !== undefined) merged = overlay(merged, { server: { 'advertise-url': advertise } });
  const endpoints = nonEmpty(env.SEQ_ETCD_ENDPOINTS);
  if (endpoints !== undefined) merged = overlay(merged, { sequence: { etcd: { endpoints: endpoints.split(',').map((e) => e.trim()) } } });
  const pgUrl = nonEmpty(env.SEQ_POSTGRES_URL);
  if (pgUrl !== undefined) merged = overlay(merged, { sequence: { postgres: { url: pgUrl } } });
  const etcdPassword = nonEmpty(env.SEQ_ETCD_PASSWORD);
  if (etcdPassword !== undefined) merged = overlay(merged, { sequence: { etcd: { password: etcdPassword } } });
  if (options.overrides) merged = overlay(merged, options.overrides);
  const envKeys = parseEnvKeys(nonEmpty(env.SEQD_API_KEYS));
  if (envKeys.length) {
    const security = isPlainObject(merged.security) ? merged.security : {};
    const listed = Array.isArray(security['api-keys']) ? (security['api-keys'] as unknown[]) : [];
    merged = overlay(merged, { security: { 'api-keys': [...listed, ...envKeys] } });
  }

  const parsed = configSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue ? formatPath(issue.path, issue.code === 'unrecognized_keys' ? issue.keys : []) : '(root)';
    throw new ConfigError(path, issue?.message ?? 'invalid');
  }
  const config = parsed.data;
  if (config.sequence.etcd['election-timeout-ms'] < 5 * config.sequence.etcd['heartbeat-interval-ms']) {
    throw new ConfigError('sequence.etcd.election-timeout-ms', 'must be at least 5 × heartbeat-interval-ms (etcd rule)');
  }
  const core = config.sequence.core;
  if (!core['gap-recovery-enabled'] && core['gap-policy'] !== undefined && core['gap-policy'] !== 'none') {
    throw new ConfigError(
      'sequence.core.gap-policy',
      `is ${core['gap-policy']}, but sequence.core.gap-recovery-enabled is false (released numbers are void at once): remove one of the two`,
    );
  }
  checkSeriesFormats(config);
  checkSecurity(config);
  return { config, profile, sources };
}

/**
 * `SEQD_API_KEYS=name:role+role:key,…`: keys given to this process, hashed at once (the key
 * itself is kept nowhere). Keys are 16+ characters of letters, digits, `-`, `_`, `.`, `~`.
 */
function parseEnvKeys(value: string | undefined): { name: string; sha256: string; roles: string[] }[] {
  if (value === undefined) return [];
  return value.split(',').map((entry, i) => {
    const m = /^([^:]+):([a-z+]+):([A-Za-z0-9._~-]{16,})$/.exec(entry.trim());
    if (!m) throw new ConfigError(`SEQD_API_KEYS[${i}]`, 'expected name:role+role:key with a key of 16+ letters, digits, "-", "_", ".", "~"');
    return { name: m[1] ?? '', roles: (m[2] ?? '').split('+'), sha256: sha256Hex(m[3] ?? '') };
  });
}

/** A production setup must not start open: keys, TLS, no demos. */
function checkSecurity(config: SeqdConfig): void {
  const sec = config.security;
  if (sec['require-api-keys'] && sec['api-keys'].length === 0) {
    throw new ConfigError('security.api-keys', 'keys are required (security.require-api-keys) but none is configured: add hashed keys or set SEQD_API_KEYS');
  }
  if (sec['require-tls'] && !config.server.tls) {
    throw new ConfigError('server.tls', 'HTTPS is required (security.require-tls): set server.tls.cert and server.tls.key');
  }
  const names = sec['api-keys'].map((k) => k.name);
  const twice = names.find((n, i) => names.indexOf(n) !== i);
  if (twice) throw new ConfigError('security.api-keys', `key name "${twice}" is used twice`);
}

/**
 * How requests map to series and how their numbers print: partitions only split within sites; a
 * format for a series base that no request can map to is a typo; formats must keep printed
 * numbers unique across every series that can exist (see `format-uniqueness.ts`).
 */
function checkSeriesFormats(config: SeqdConfig): void {
  const s = config.sequence.series;
  if (s['split-by'].includes('partition') && !s['split-by'].includes('site')) {
    throw new ConfigError(
      'sequence.series.split-by',
      `partition needs site: partition ids belong to a site (site-1 and site-2 may both have partition-a, which would share one series); use [${['site', ...s['split-by']].join(', ')}]`,
    );
  }
  const strategy: SeriesStrategy = {
    splitBy: s['split-by'],
    rollover: s.rollover.enabled ? { period: s.rollover.period, timeZone: s.rollover['time-zone'] } : null,
  };
  const bases = seriesBasesOf(config);
  for (const name of Object.keys(s.formats)) {
    if (!bases.has(name)) {
      const some = [...bases].slice(0, 10).join(', ');
      throw new ConfigError(`sequence.series.formats.${name}`, `names no series; with split-by [${s['split-by'].join(', ')}] series are: ${some}`);
    }
  }
  const fallback = config.sequence.format;
  const configured = [
    ...(fallback ? [{ key: 'sequence.format', format: numberFormatOf(fallback) }] : []),
    ...Object.entries(s.formats).map(([base, f]) => ({ key: `sequence.series.formats.${base}`, format: numberFormatOf(f) })),
  ];
  const problem = formatTokenProblem(strategy, configured) ?? formatUniquenessProblem(strategy, printingSeriesOf(config));
  if (problem) throw new ConfigError(problem.key, problem.message);
}

/** Every series base a request can map to under the configuration (its sites, partitions, types). */
export function seriesBasesOf(config: SeqdConfig): Set<string> {
  const splitBy = config.sequence.series['split-by'];
  const combos = config.sequence.sites.flatMap((site) =>
    site.partitions.flatMap((partitionId) => INVOICE_TYPES.map((invoiceType) => ({ siteId: site.id, partitionId, invoiceType }))),
  );
  return new Set(combos.map((k) => seriesBase({ splitBy, rollover: null }, k)));
}

/** The configured series bases that print numbers, each with its format (bases without one print none). */
export function printingSeriesOf(config: SeqdConfig): SeriesFormat[] {
  const s = config.sequence.series;
  const fallback = config.sequence.format;
  const printing: SeriesFormat[] = [];
  for (const base of seriesBasesOf(config)) {
    const own = s.formats[base];
    const f = own ?? fallback;
    if (!f) continue;
    const key = own ? `sequence.series.formats.${base}` : 'sequence.format';
    printing.push({ base, values: seriesValuesOf(s['split-by'], base), key, format: numberFormatOf(f) });
  }
  return printing;
}

function numberFormatOf(f: NonNullable<SeqdConfig['sequence']['format']>): NumberFormat {
  return { prefix: f.prefix, year: f.year, padding: f.padding, separator: f.separator, timeZone: f['time-zone'] };
}

/** Absolute data directory (relative paths are taken from the working directory). */
export function dataDirOf(config: SeqdConfig): string {
  return resolve(config.sequence['data-dir']);
}

/** Absolute log file path (relative paths are taken from the data directory); null for none. */
export function logFileOf(config: SeqdConfig): string | null {
  const file = config.logging.file;
  if (file === null) return null;
  return isAbsolute(file) ? file : join(dataDirOf(config), file);
}

function readYaml(file: string, sources: string[]): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = parse(readFileSync(file, 'utf8'), { merge: true });
  } catch (error) {
    throw new ConfigError(file, `not valid YAML: ${(error as Error).message}`);
  }
  sources.push(file);
  if (doc === null || doc === undefined) return {};
  if (!isPlainObject(doc)) throw new ConfigError(file, 'the top level must be a mapping');
  return doc;
}

/** Deep merge: mappings merge key by key; lists and scalars replace. */
function overlay(base: Record<string, unknown>, top: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(top)) {
    const prev = out[key];
    out[key] = isPlainObject(prev) && isPlainObject(value) ? overlay(prev, value) : value;
  }
  return out;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parsePort(value: number | string, key: string): number {
  const n = typeof value === 'number' ? value : /^\d+$/.test(value.trim()) ? Number(value) : NaN;
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new ConfigError(key, `"${value}" is not a port number (0-65535)`);
  return n;
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v.trim() === '' ? undefined : v;
}

function formatPath(path: readonly PropertyKey[], extraKeys: readonly string[]): string {
  let out = '';
  for (const part of path) out += typeof part === 'number' ? `[${part}]` : `${out ? '.' : ''}${String(part)}`;
  if (extraKeys.length > 0) out += `${out ? '.' : ''}${extraKeys.join(', ')}`;
  return out || '(root)';
}
