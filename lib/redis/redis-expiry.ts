import { arrayReply } from './redis-replies';

/** Expired entries deleted per script run by the cleanup: Redis runs one script at a time. */
export const EXPIRE_BATCH = 500;

/**
 * Runs an expiry script (`{removed, read}` per run, at most {@link EXPIRE_BATCH} read) until a run
 * reads fewer than a batch; resolves how many entries it removed in all, rejects at once on any
 * other answer.
 *
 * @internal
 */
export async function expireInBatches(runBatch: () => Promise<unknown>): Promise<number> {
  let removed = 0;
  for (;;) {
    const reply = arrayReply(await runBatch(), 'the cleanup');
    const [count, read] = reply.map(Number);
    // Anything but two counts ends the cleanup: a NaN would never end it.
    if (reply.length !== 2 || !isCount(count) || !isCount(read)) {
      throw new TypeError('Redis answered the cleanup with something other than two counts');
    }
    removed += count;
    if (read < EXPIRE_BATCH) return removed;
  }
}

function isCount(value: number | undefined): value is number {
  return value !== undefined && Number.isSafeInteger(value) && value >= 0;
}
