import { readFileSync } from 'node:fs';

/** The package version (from package.json, found relative to this file in src/ and dist/). */
export const SEQD_VERSION: string = (
  JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }
).version;
