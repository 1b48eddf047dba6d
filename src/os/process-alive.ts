/**
 * Whether a process with this pid exists. A process of another user counts (signalling it is
 * refused with EPERM): a lock or registration it holds is not stale, and taking it over would
 * let two seqd serve one data directory or stop etcd members another user's seqd still uses.
 */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
