import { InvalidArgumentError } from 'commander';
import type { ChainHead, VerifyResult } from '../client/seqd-client.js';

/** Disagreements of the derived tables printed by `seqd audit verify` (the rest are counted). */
const PROBLEMS_PRINTED = 10;

/** `--head <seq>:<hash>` as an earlier `seqd audit verify` printed it (checked again by the server). */
export function chainHead(value: string): ChainHead {
  const m = /^(0|[1-9][0-9]{0,15}):([0-9a-f]{64})$/.exec(value);
  if (!m?.[1] || !m[2]) throw new InvalidArgumentError('<seq>:<hash> as an earlier verify printed it (the hash is 64 lowercase hex digits)');
  return { seq: Number(m[1]), hash: m[2] };
}

/**
 * The human answer: one line when valid (with the head to save, for one series); else the first
 * problem of the focus series and the derived tables' disagreements, one per line.
 */
export function verifyText(v: VerifyResult): string {
  const where = v.reports ? `${v.reports.length} series` : v.series;
  if (v.valid) return `valid: ${v.eventsChecked} events (${where})${!v.reports && v.head ? `; head ${v.head.seq}:${v.head.hash}` : ''}`;
  const lines: string[] = [];
  const chain = v.firstInvalidEvent ? `event ${v.firstInvalidEvent.seq}: ${v.firstInvalidEvent.problem}` : v.continuity.problem;
  if (chain) lines.push(chain);
  if (v.savedHead && !v.savedHead.valid) lines.push(`saved head: ${v.savedHead.problem ?? 'invalid'}`);
  if (v.derived.checked && !v.derived.valid) {
    lines.push(`derived tables: ${v.derived.problemCount} disagreement(s) with the trail`);
    for (const p of v.derived.problems.slice(0, PROBLEMS_PRINTED)) lines.push(`  - ${p}`);
    if (v.derived.problemCount > PROBLEMS_PRINTED) lines.push(`  … and ${v.derived.problemCount - PROBLEMS_PRINTED} more (--json lists up to ${v.derived.problems.length})`);
  }
  return `INVALID: series ${v.series}: ${lines.join('\n')}`;
}
