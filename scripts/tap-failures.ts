/**
 * What failed in a node:test TAP log, for the end of a long CI log: a CI viewer that keeps only
 * the head and tail of the output otherwise hides the one line that says why (a `before` hook's
 * error sits above hundreds of passing tests). Tests cancelled because their parent failed, and
 * suites that failed only because a subtest did, are left out: another entry carries the reason.
 *
 * Usage: node --import tsx scripts/tap-failures.ts <tap-log>
 */
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

export interface TapFailure {
  /** Names from the outermost suite down to the failed test, joined by " > ". */
  readonly name: string;
  /** node:test's failureType, e.g. testCodeFailure or hookFailed. */
  readonly failureType: string;
  /** The block's `error`, `location` and the first lines of `stack`, as written. */
  readonly detail: string[];
}

const STACK_LINES = 6;
const PRINTED_LINES = 10;

/** Every failure in a node:test TAP log, except those cancelled by a failed parent. */
export function tapFailures(tap: string): TapFailure[] {
  const lines = tap.split('\n');
  const failures: TapFailure[] = [];
  // Subtests print before their parent's "ok"/"not ok" line, but their "# Subtest:" headers
  // come first and nest by indent: that gives the path of names.
  const open: string[] = [];
  // What a test file printed on stderr outside any test (an uncaught error, say) comes as
  // top-level comments before the file's own result.
  let printed: string[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] ?? '';
    const indent = line.length - line.trimStart().length;
    const depth = indent / 4;
    const header = /^\s*# Subtest: (.*)$/.exec(line);
    if (header) {
      open.length = depth;
      open[depth] = header[1] ?? '';
      continue;
    }
    if (depth === 0 && line.startsWith('# ')) {
      printed.push(line.slice(2));
      continue;
    }
    const result = /^\s*(not )?ok \d+ - (.*?)(?: # (?:SKIP|TODO).*)?$/.exec(line);
    if (!result) continue;
    const name = [...open.slice(0, depth), result[2] ?? ''].join(' > ');
    open.length = depth;
    const filePrinted = depth === 0 ? printed : [];
    if (depth === 0) printed = [];
    if (!result[1]) continue;
    const block = yamlBlock(lines, i + 1, indent + 2);
    const failureType = field(block, 'failureType') ?? 'unknown';
    if (failureType === 'cancelledByParent' || failureType === 'subtestsFailed') continue;
    // A whole file failed (its process exited badly): what it printed is the reason.
    const whole = field(block, 'exitCode') !== undefined ? filePrinted.slice(-PRINTED_LINES).map((l) => `printed: ${l}`) : [];
    failures.push({ name, failureType, detail: [...detailOf(block), ...whole] });
  }
  return failures;
}

/** The lines of the YAML block ("---" to "...") after a result line, at the given indent. */
function yamlBlock(lines: string[], from: number, indent: number): string[] {
  const pad = ' '.repeat(indent);
  if (lines[from] !== `${pad}---`) return [];
  const block: string[] = [];
  for (let i = from + 1; i < lines.length && lines[i] !== `${pad}...`; i++) block.push((lines[i] ?? '').slice(indent));
  return block;
}

function field(block: string[], key: string): string | undefined {
  const line = block.find((l) => l.startsWith(`${key}: `));
  return line?.slice(key.length + 2).replace(/^'(.*)'$/, '$1');
}

function detailOf(block: string[]): string[] {
  const detail: string[] = [];
  for (let i = 0; i < block.length; i++) {
    const line = block[i] ?? '';
    if (/^(error|location|expected|actual|operator):/.test(line)) {
      detail.push(line);
      // A multi-line value (error: |-) continues on the lines indented under it.
      // (node:test indents its blank lines too, but an editor may have trimmed them).
      for (let j = i + 1; j < block.length && /^( {2}|\s*$)/.test(block[j] ?? ''); j++) detail.push(block[j] ?? '');
    } else if (line.startsWith('stack:')) {
      const stack = block
        .slice(i + 1)
        .filter((l) => l.startsWith('  ') && !/node:(internal|async_hooks)/.test(l))
        .slice(0, STACK_LINES);
      detail.push('stack:', ...stack);
    }
  }
  return detail;
}

/** The summary as printed at the end of the test run. */
export function formatFailures(failures: TapFailure[]): string {
  if (failures.length === 0) return 'no failed test in the TAP log (the run failed outside a test)';
  const parts = failures.map((f, n) => [`${n + 1}. ${f.name} (${f.failureType})`, ...f.detail.map((d) => `   ${d}`)].join('\n'));
  return [`${failures.length} failed:`, ...parts].join('\n');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const file = process.argv[2];
  if (!file) {
    console.error('usage: tap-failures <tap-log>');
    process.exit(2);
  }
  console.log(formatFailures(tapFailures(readFileSync(file, 'utf8'))));
}
