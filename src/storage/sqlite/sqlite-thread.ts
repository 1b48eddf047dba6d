import { Worker } from 'node:worker_threads';

// From src/ (run by tsx, in tests) a thread's entry is the .ts file and needs the tsx loader;
// from dist/ it is the .js file.
const FROM_SOURCE = import.meta.url.endsWith('.ts');

/** Starts one of the store's threads (`entry`: the module's name beside this one, without extension). */
export function startSqliteThread(entry: 'sqlite-writer-thread' | 'sqlite-check-thread', workerData: unknown): Worker {
  const url = new URL(`./${entry}.${FROM_SOURCE ? 'ts' : 'js'}`, import.meta.url);
  if (!FROM_SOURCE) return new Worker(url, { workerData });
  // A worker does not inherit the tsx loader: register it in the thread, then load the entry.
  const boot = `import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${JSON.stringify(url.href)}); })`;
  return new Worker(boot, { eval: true, workerData });
}
