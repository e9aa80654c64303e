import { arrayReply } from './redis-replies';

/** Expired entries deleted per script run by the cleanup: Redis runs one script at a time. */
export const EXPIRE_BATCH = 500;

/**
 * Runs an expiry script (`{removed, read}` per run, at most {@link EXPIRE_BATCH} read) until a run
 * reads fewer than a batch; resolves how many entries it removed in all.
 *
 * @internal
 */
export async function expireInBatches(runBatch: () => Promise<unknown>): Promise<number> {
  let removed = 0;
  for (;;) {
    const [count, read] = arrayReply(await runBatch(), 'the cleanup');
    removed += Number(count);
    if (Number(read) < EXPIRE_BATCH) return removed;
  }
}
