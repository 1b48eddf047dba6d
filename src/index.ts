/** Library entry: the pieces an embedding application or a test uses. */
export { startSeqd, type RunningSeqd } from './app.js';
export { loadConfig, type LoadedConfig, type LoadOptions } from './config/config-loader.js';
export type { SeqdConfig } from './config/config-schema.js';
export * from './domain/errors/index.js';
export type * from './domain/types.js';
export type { SequenceStore } from './storage/sequence-store.js';
export { SqliteStore } from './storage/sqlite/sqlite-store.js';
