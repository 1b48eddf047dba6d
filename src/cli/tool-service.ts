import { numberingOf } from '../app.js';
import type { SeqdConfig } from '../config/config-schema.js';
import { SequenceService } from '../service/sequence-service.js';
import type { SequenceStore } from '../storage/sequence-store.js';

/**
 * A service for a command that writes to a store directly (no server): it records audited changes
 * through the planner like a server would. It keeps the stored settings as they are (a server
 * applies the configured ones at its own start), so starting it commits nothing.
 */
export async function toolService(config: SeqdConfig, store: SequenceStore, node: string): Promise<SequenceService> {
  const { strategy, format, formats } = numberingOf(config);
  const stored = await store.loadSettings();
  const identity = await store.loadIdentity();
  return SequenceService.start({
    store,
    node: `${node}:${process.pid}`,
    start: config.sequence.core['global-counter-start'],
    gapPolicy: 'none',
    sites: config.sequence.sites,
    maxCount: config.sequence.core['max-count'],
    simulatedEnabled: stored.simulatedEnabled ?? config.sequence['invoice-types'].simulated.enabled,
    strategy,
    format,
    formats,
    formerNumbering: identity?.formerNumbering,
  });
}
