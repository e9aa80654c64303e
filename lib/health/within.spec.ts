import { afterEach, describe, expect, it, vi } from 'vitest';
import { errorCode } from './error-code';
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

describe('errorCode', () => {
  it("says an error's stable code, else its class name, never its message", () => {
    expect(
      errorCode(Object.assign(new Error('sid abc'), { code: 'ERR_REPOSITORY_UNAVAILABLE' })),
    ).toBe('ERR_REPOSITORY_UNAVAILABLE');
    expect(errorCode(new TypeError('session 1234 not found'))).toBe('TypeError');
    expect(errorCode(Object.assign(new Error('x'), { code: 'secret value 1234' }))).toBe('Error');
    expect(errorCode('a string thrown')).toBe('Error');
    expect(errorCode(undefined)).toBe('Error');
  });
});
