/**
 * The answer of `GET /api/v1/audit/verify` for the API document and the serialiser. Objects allow
 * more fields than declared, so a field added to the report is never dropped from the answer.
 */

const int = { type: 'integer' } as const;
const str = { type: 'string' } as const;
const bool = { type: 'boolean' } as const;
const nullableString = { type: ['string', 'null'] } as const;

const head = {
  type: ['object', 'null'],
  additionalProperties: true,
  required: ['seq', 'hash'],
  properties: { seq: int, hash: str },
  description: 'the last event of the trail as verified (seq 0 and the genesis hash when empty); null when the chain is broken. Save it and pass it back as head=<seq>:<hash>',
} as const;

const savedHead = {
  type: ['object', 'null'],
  additionalProperties: true,
  required: ['seq', 'hash', 'valid', 'problem'],
  properties: { seq: int, hash: str, valid: bool, problem: nullableString },
  description: 'the verdict on the head passed as ?head= (null without one): invalid when that event is missing (trail truncated) or has another hash (history rewritten)',
} as const;

const derived = {
  type: 'object',
  additionalProperties: true,
  required: ['valid', 'checked', 'numbersChecked', 'totalsChecked', 'requestsChecked', 'problemCount', 'problems'],
  properties: {
    valid: { ...bool, description: 'every derived table agrees with the trail' },
    checked: { ...bool, description: 'false when the trail itself is invalid: nothing was recomputed' },
    numbersChecked: { ...int, description: 'open, void, refilled and confirmed numbers compared (stored records and the trail\'s)' },
    totalsChecked: { ...int, description: 'totals rows (site × partition × invoice type) compared' },
    requestsChecked: { ...int, description: 'keyed requests inside the idempotency window whose record was compared' },
    problemCount: { ...int, description: 'every disagreement found' },
    problems: { type: 'array', items: str, description: 'the first disagreements (at most 50), one sentence each' },
  },
  description: 'the store\'s derived tables recomputed from the trail: number records (status, holder, reason, allocation), totals and series counters, idempotency records',
} as const;

const report = {
  type: 'object',
  additionalProperties: true,
  required: ['series', 'valid', 'eventsChecked', 'firstInvalidEvent', 'continuity', 'head', 'savedHead', 'derived'],
  properties: {
    series: str,
    valid: { ...bool, description: 'the chain, the continuity, the derived tables and any saved head are all valid' },
    eventsChecked: int,
    durationMs: int,
    firstInvalidEvent: {
      type: ['object', 'null'],
      additionalProperties: true,
      properties: { seq: int, type: str, problem: str },
      description: 'the first event whose hash, link or effect is wrong',
    },
    continuity: {
      type: 'object',
      additionalProperties: true,
      properties: {
        valid: bool,
        start: int,
        highWaterMark: int,
        numbersChecked: int,
        held: int,
        openGaps: int,
        void: int,
        problem: nullableString,
      },
      description: 'every number from the start to the HWM replayed, compared with the stored state',
    },
    head,
    savedHead,
    derived,
    archive: {
      type: 'object',
      additionalProperties: true,
      required: ['file', 'sha256', 'headSeq', 'headHash', 'archivedAt'],
      properties: { file: str, sha256: str, headSeq: int, headHash: str, archivedAt: int },
      description:
        'only for an archived series: the archive file its events up to headSeq went to (check it offline with seqd archive verify); the chain is verified from that head on, and derived.checked is false (the number records are in the archive)',
    },
  },
} as const;

export function verifyResponse<E extends object>(errorResponses: E) {
  return {
    200: {
      ...report,
      properties: {
        ...report.properties,
        reports: { type: 'array', items: report, description: 'one report per series when no series was named; the top level is then the first invalid one (or the default series\')' },
      },
    },
    ...errorResponses,
  } as const;
}
