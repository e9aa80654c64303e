/** How a promise ended within a wait: its value, its error, or not yet. @internal */
export type Settled<T> =
  | { readonly outcome: 'value'; readonly value: T }
  | { readonly outcome: 'error'; readonly error: unknown }
  | { readonly outcome: 'timeout' };

/**
 * How `promise` ends within `ms` milliseconds. Never rejects; a rejection that comes after the wait
 * is handled (never an unhandled rejection), and the timer never keeps the process alive.
 *
 * @internal
 */
export function within<T>(promise: PromiseLike<T>, ms: number): Promise<Settled<T>> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve({ outcome: 'timeout' }), Math.max(0, ms));
    timer.unref();
    Promise.resolve(promise).then(
      (value) => {
        clearTimeout(timer);
        resolve({ outcome: 'value', value });
      },
      (error: unknown) => {
        clearTimeout(timer);
        resolve({ outcome: 'error', error });
      },
    );
  });
}
