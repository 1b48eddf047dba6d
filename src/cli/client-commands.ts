import { once } from 'node:events';
import { Command, InvalidArgumentError, Option } from 'commander';
import { SeqdApiError } from '../client/seqd-api-error.js';
import { SeqdClient, type ChainHead, type GapStatus, type NextParams } from '../client/seqd-client.js';
import { chainHead, verifyText } from './verify-output.js';
import { EXIT, reportApiError, reportFailure } from './exit-codes.js';
import { OutFileError, writeAtomically } from './export-file.js';

interface Common {
  url: string[];
  json?: boolean;
  apiKey?: string;
}

function positiveInt(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number');
  return Number(value);
}

const collect = (value: string, previous: string[]) => [...previous, value];

/** Options every client verb has: where seqd runs (several for failover) and machine output. */
function withCommon(cmd: Command): Command {
  return cmd
    .option('--url <url>', 'a seqd instance (repeat for failover; env SEQD_URL, comma-separated)', collect, [])
    .option('--api-key <key>', 'API key when the server requires one (env SEQD_API_KEY)')
    .option('--json', 'print the JSON answer');
}

/** A usage problem found by the verb itself (not by commander): one line, exit 2. */
class UsageError extends Error {}

function client(o: Common): SeqdClient {
  const urls = (o.url.length > 0 ? o.url : (process.env.SEQD_URL ?? 'http://127.0.0.1:8080').split(',')).map((u) => u.trim().replace(/\/$/, ''));
  // A typo in a URL is the caller's mistake, not an unreachable server.
  for (const u of urls) {
    if (!/^https?:\/\/[^/]/.test(u) || !URL.canParse(u)) throw new UsageError(`"${u}" is not an http(s) URL (--url or SEQD_URL)`);
  }
  return new SeqdClient({ urls, apiKey: o.apiKey ?? process.env.SEQD_API_KEY });
}

/**
 * Runs a verb: prints JSON or a human line. Failures print one line and set the exit code of
 * {@link EXIT}: 2 usage, 3 unreachable, 4 refused (4xx), 5 server error or unreadable answer.
 */
async function run<T>(o: Common, work: () => Promise<T>, human: (r: T) => string): Promise<T | undefined> {
  try {
    const r = await work();
    console.log(o.json ? JSON.stringify(r, null, 2) : human(r));
    return r;
  } catch (error) {
    fail(error, o.json === true);
    return undefined;
  }
}

/** Reports any failure of a verb in one line with its exit code. */
function fail(error: unknown, json: boolean): void {
  if (error instanceof SeqdApiError) reportApiError(error, json);
  else if (error instanceof UsageError || error instanceof OutFileError) reportFailure(error.message, EXIT.usage);
  // An answer that is not seqd's JSON (a proxy's error page), or a bug here: not the caller's to fix.
  else reportFailure(`could not read the answer: ${error instanceof Error ? error.message : String(error)}`, EXIT.serverError);
}

/** `run` for verbs whose answer needs no further look. */
async function show<T>(o: Common, work: () => Promise<T>, human: (r: T) => string): Promise<void> {
  await run(o, work, human);
}

const holderOptions = (cmd: Command) =>
  cmd.requiredOption('--site <id>', 'site id').requiredOption('--partition <id>', 'partition id');

const seriesOption = (cmd: Command) => cmd.option('--series <name>', 'the series (as next printed it; default: the current one)');

/** Options naming a held number's series: by name, or by invoice type when series split by type. */
const heldOptions = (cmd: Command) =>
  seriesOption(holderOptions(cmd))
    .addOption(
      new Option('--type <type>', 'invoice type the number was taken for (series split by type)').choices(['on-cycle', 'off-cycle', 'simulated', 'suppressed']),
    )
    .option('--allocation <token>', 'the allocation next printed: act only while it still holds the number');

interface Held extends Common {
  site: string;
  partition: string;
  series?: string;
  type?: NextParams['invoiceType'];
  allocation?: string;
}
const held = (n: number, o: Held) => ({
  sequenceNumber: n,
  siteId: o.site,
  partitionId: o.partition,
  series: o.series,
  invoiceType: o.type,
  allocation: o.allocation,
});

/** `seqd next|release|confirm|stats|gaps|audit export|audit verify`: the API from a shell. */
export function clientCommands(program: Command): void {
  withCommon(holderOptions(program.command('next').description('take the next number(s)')))
    .addOption(new Option('--type <type>', 'invoice type').choices(['on-cycle', 'off-cycle', 'simulated', 'suppressed']).default('on-cycle'))
    .option('--count <n>', 'how many numbers', positiveInt, 1)
    .option('--key <key>', 'idempotency key: repeat the command with it to get the same numbers')
    .action((o: Common & { site: string; partition: string; type: NextParams['invoiceType']; count: number; key?: string }) =>
      show(
        o,
        () => client(o).next({ siteId: o.site, partitionId: o.partition, invoiceType: o.type, count: o.count, idempotencyKey: o.key }),
        (r) =>
          `${r.series}: ${(r.formatted ?? r.numbers).join(', ')}${r.refilled.length ? `  (refilled: ${r.refilled.join(', ')})` : ''}${r.replayed ? '  (repeat of an earlier request)' : ''}${r.allocation ? `  allocation ${r.allocation}` : ''}`,
      ),
    );

  withCommon(heldOptions(program.command('release').description('give a number back (an open gap)').argument('<number>', 'the number', positiveInt)))
    .requiredOption('--reason <text>', 'why (kept in the audit trail)')
    .action((n: number, o: Held & { reason: string }) =>
      show(o, () => client(o).release({ ...held(n, o), reason: o.reason }), (r) => `${r.series}: ${r.sequenceNumber}: ${r.status}${r.alreadyReleased ? ` (already, ${r.reason})` : ''}`),
    );

  withCommon(heldOptions(program.command('confirm').description('finalise a number (it can no longer be released)').argument('<number>', 'the number', positiveInt)))
    .action((n: number, o: Held) =>
      show(o, () => client(o).confirm(held(n, o)), (r) => `${r.series}: ${r.sequenceNumber}: confirmed${r.alreadyConfirmed ? ' (already)' : ''}`),
    );

  withCommon(program.command('series').description('every series: period, state, high-water mark, gaps')).action((o: Common) =>
    show(o, () => client(o).series(), (r) =>
      r.series
        .map((x) => {
          const s = x as { name: string; status: string; highWaterMark: number; openGaps: number; voidGaps: number };
          return `${s.name}	${s.status}	HWM ${s.highWaterMark}	open gaps ${s.openGaps}	void ${s.voidGaps}`;
        })
        .join('\n') || 'no series',
    ),
  );

  withCommon(program.command('stats').description('high-water mark, totals, gaps, throughput')).action((o: Common) =>
    show(o, () => client(o).stats(), (r) => {
      const s = r as { highWaterMark: number; totals?: { issued: number; refilled: number; released: number; openGaps: number; voidGaps: number } };
      const t = s.totals;
      return `high-water mark ${s.highWaterMark}; issued ${t?.issued ?? '-'}, refilled ${t?.refilled ?? '-'}, released ${t?.released ?? '-'}; open gaps ${t?.openGaps ?? '-'}, void ${t?.voidGaps ?? '-'}`;
    }),
  );

  withCommon(seriesOption(program.command('gaps').description('the gap report of a series')))
    .addOption(new Option('--status <status>', 'gaps: open and void; all: with refilled').choices(['open', 'void', 'refilled', 'gaps', 'all']).default('gaps'))
    .action((o: Common & { status: GapStatus; series?: string }) =>
      show(o, () => client(o).gaps(o.status, undefined, { series: o.series }), (r) => {
        const gaps = (r as { gaps: { sequenceNumber: number; status: string; reason: string | null; siteId: string }[] }).gaps;
        return gaps.length === 0 ? 'no gaps' : gaps.map((g) => `${g.sequenceNumber}\t${g.status}\t${g.siteId}\t${g.reason ?? ''}`).join('\n');
      }),
    );

  const audit = program.command('audit').description('the audit trail');
  withCommon(seriesOption(audit.command('verify').description('recompute the hash chain, continuity and derived tables (exit 1 when invalid)')))
    .option('--period <period>', 'every series of one period, e.g. 2026 (default: every series)')
    .option('--head <seq:hash>', 'a head printed by an earlier verify of --series: invalid if that event is gone or rewritten', chainHead)
    .action(async (o: Common & { series?: string; period?: string; head?: ChainHead }) => {
      if (o.head && o.series === undefined) return fail(new UsageError('--head needs --series: a saved head belongs to one series'), o.json === true);
      const r = await run(o, () => client(o).verify({ series: o.series, period: o.period, head: o.head }), verifyText);
      if (r && !r.valid) process.exitCode = 1;
    });
  withCommon(seriesOption(audit.command('export').description('stream the trail of a series as CSV or NDJSON (progress on stderr); --out is written whole or not at all')))
    .addOption(new Option('--format <format>').choices(['csv', 'ndjson']).default('csv'))
    .option('--from <time>', 'start: RFC 3339 with a zone, e.g. 2026-01-01T00:00:00Z')
    .option('--to <time>', 'end: RFC 3339 with a zone, e.g. 2026-12-31T23:59:59+01:00')
    .option('--out <file>', 'write to this file (via a temporary file beside it) instead of standard output')
    .option('--all-series', 'every series, one after the other (not with --series)')
    .action(async (o: Common & { format: 'csv' | 'ndjson'; from?: string; to?: string; out?: string; series?: string; allSeries?: boolean }) => {
      let shown = 0;
      const progress = (lines: number, total: number) => {
        if (!o.out || Date.now() - shown <= 500) return;
        shown = Date.now();
        process.stderr.write(`\r${lines.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} events`);
      };
      try {
        const chunks = streamed(client(o).exportAudit({ format: o.format, from: o.from, to: o.to, series: o.series, allSeries: o.allSeries }, progress));
        if (o.out) {
          await writeAtomically(o.out, chunks);
          if (shown) process.stderr.write('\n');
          process.stderr.write(`written: ${o.out}\n`);
        } else {
          for await (const chunk of chunks) if (!process.stdout.write(chunk)) await once(process.stdout, 'drain');
        }
      } catch (error) {
        if (shown) process.stderr.write('\n');
        fail(error, false);
      }
    });
}

/**
 * The export's chunks; a connection that breaks mid-answer (the instance died) is reported as
 * unreachable, like one that never answered: the export is incomplete and may be asked again.
 */
async function* streamed(chunks: AsyncIterable<string>): AsyncGenerator<string> {
  try {
    yield* chunks;
  } catch (error) {
    if (error instanceof SeqdApiError) throw error;
    throw new SeqdApiError(`the connection broke during the export: ${error instanceof Error ? error.message : String(error)}`, 'UNREACHABLE', 0, undefined, { cause: error });
  }
}
