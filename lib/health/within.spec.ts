import { afterEach, describe, expect, it, vi } from 'vitest';
import { within } from './within';

afterEach(() => {
  vi.useRealTimers();
});

describe('within', () => {
  it('answers the value or the error of a promise that settles in time', async () => {
    expect(await within(Promise.resolve(7), 1_000)).toEqual({ outcome: 'value', value: 7 });
    const error = new Error('down');
    expect(await within(Promise.reject(error), 1_000)).toEqual({ outcome: 'error', error });
  });

  it('answers a timeout for a promise that never settles, after the wait and not before', async () => {
    vi.useFakeTimers();
    let done = false;
    const waiting = within(new Promise<never>(() => undefined), 500).then((settled) => {
      done = true;
      return settled;
    });
    await vi.advanceTimersByTimeAsync(499);
    expect(done).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(await waiting).toEqual({ outcome: 'timeout' });
  });

  it('handles a rejection that comes after the wait (no unhandled rejection)', async () => {
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    try {
      let reject!: (error: Error) => void;
      const late = new Promise<never>((_, r) => (reject = r));
      expect(await within(late, 1)).toEqual({ outcome: 'timeout' });
      reject(new Error('late'));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(unhandled).not.toHaveBeenCalled();
    } finally {
      process.off('unhandledRejection', unhandled);
    }
  });
});
