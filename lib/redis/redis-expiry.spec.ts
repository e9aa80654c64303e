import { describe, expect, it } from 'vitest';
import { EXPIRE_BATCH, expireInBatches } from './redis-expiry';

describe('expireInBatches', () => {
  it('runs batches until one reads less than a batch, adding up what they removed', async () => {
    const replies = [
      [EXPIRE_BATCH, EXPIRE_BATCH],
      [3, 7],
    ];
    let calls = 0;
    expect(await expireInBatches(() => Promise.resolve(replies[calls++]))).toBe(EXPIRE_BATCH + 3);
    expect(calls).toBe(2);
  });

  it.each([[[]], [['x', 'y']], [[1]], [[-1, 0]], [[1, 0.5]], [[1, Number.MAX_SAFE_INTEGER + 2]]])(
    'rejects a run answered %j, once, instead of counting it or running again',
    async (reply) => {
      let calls = 0;
      await expect(
        expireInBatches(() => {
          calls++;
          if (calls > 3) throw new Error('ran again');
          return Promise.resolve(reply);
        }),
      ).rejects.toThrow(/cleanup/);
      expect(calls).toBe(1);
    },
  );
});
