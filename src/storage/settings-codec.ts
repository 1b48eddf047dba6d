import type { Settings } from '../domain/types.js';

/** Settings from the rows of a SQL store's `settings` table (values are JSON); unknown keys are ignored. */
export function decodeSettings(rows: readonly { key: string; value: string }[]): Partial<Settings> {
  const out: Partial<Settings> = {};
  for (const { key, value } of rows) {
    if (key === 'simulatedEnabled') out.simulatedEnabled = JSON.parse(value) === true;
    if (key === 'maintenance') out.maintenance = JSON.parse(value) === true;
    if (key === 'migratedTo') out.migratedTo = String(JSON.parse(value));
  }
  return out;
}
