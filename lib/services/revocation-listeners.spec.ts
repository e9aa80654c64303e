import { Logger } from '@nestjs/common';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';
import { LISTENER_WAIT_MS, RevocationListeners } from './revocation-listeners';

const event = {
  channel: 'back-channel',
  registrationId: 'main',
  sessions: [],
} as unknown as OidcRevocationEvent;

describe('RevocationListeners', () => {
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('waits for a listener that never settles at most LISTENER_WAIT_MS, logs it, and runs the next', async () => {
    vi.useFakeTimers();
    const logged: string[] = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
    const listeners = new RevocationListeners(() => new Promise<void>(() => undefined));
    const next = vi.fn();
    listeners.add(next);
    let done = false;
    const emitted = listeners.emit(event).then(() => (done = true));
    await vi.advanceTimersByTimeAsync(LISTENER_WAIT_MS - 1);
    expect(done).toBe(false);
    expect(next).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    await emitted;
    expect(next).toHaveBeenCalledTimes(1);
    expect(logged).toEqual([
      `An onRevocation listener did not finish within ${LISTENER_WAIT_MS} ms for a back-channel logout of registration "main"; not waited for any longer`,
    ]);
  });

  it('takes a listener returning a thenable whose then throws for a failed one', async () => {
    const logged: string[] = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
    const listeners = new RevocationListeners(
      () =>
        ({
          then: () => {
            throw new RangeError('boom');
          },
        }) as unknown as Promise<void>,
    );
    const next = vi.fn();
    listeners.add(next);
    await expect(listeners.emit(event)).resolves.toBeUndefined();
    expect(next).toHaveBeenCalledTimes(1);
    expect(logged).toEqual([
      'An onRevocation listener failed (RangeError) for a back-channel logout of registration "main"',
    ]);
  });

  it('awaits listeners in turn, and logs one that fails', async () => {
    const order: string[] = [];
    const logged: string[] = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      logged.push(String(message));
    });
    const listeners = new RevocationListeners(async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('first');
    });
    listeners.add(() => {
      order.push('second');
      throw new TypeError('boom');
    });
    listeners.add(() => {
      order.push('third');
    });
    await listeners.emit(event);
    expect(order).toEqual(['first', 'second', 'third']);
    expect(logged).toEqual([
      'An onRevocation listener failed (TypeError) for a back-channel logout of registration "main"',
    ]);
  });
});
