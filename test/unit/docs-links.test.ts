import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const docs = ['README.md', 'deploy/kubernetes/README.md', ...readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

/** GitHub's anchor of a heading: lower case, punctuation dropped, spaces as dashes. */
const anchor = (heading: string) =>
  heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');

// The project stands alone: its documents link only to files inside it, and those exist.
describe('documentation links', () => {
  for (const doc of docs) {
    it(`${doc}: every relative link points to a file (and heading) inside the repository`, () => {
      const text = readFileSync(join(ROOT, doc), 'utf8');
      const problems: string[] = [];
      for (const m of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        const target = m[1] ?? '';
        if (/^[a-z]+:/i.test(target)) continue;
        const [path = '', hash] = target.split('#');
        const file = path === '' ? join(ROOT, doc) : resolve(dirname(join(ROOT, doc)), path);
        if (relative(ROOT, file).startsWith('..')) problems.push(`${target}: outside the repository`);
        else if (!existsSync(file)) problems.push(`${target}: no such file`);
        else if (hash && file.endsWith('.md')) {
          const headings = [...readFileSync(file, 'utf8').matchAll(/^#+ (.+)$/gm)].map((h) => anchor(h[1] ?? ''));
          if (!headings.includes(hash)) problems.push(`${target}: no heading #${hash}`);
        }
      }
      assert.deepEqual(problems, []);
    });
  }
});
