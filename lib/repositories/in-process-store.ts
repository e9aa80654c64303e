/**
 * Marks the library's in-memory stores: their calls are work of this process (a map, answered in
 * microseconds), so the store boundary records their durations but makes no span for them. A span
 * would show nothing a trace is for (where a request waited) and cost more than the call. No part
 * of the public contract: a store of the app's own always has its spans.
 *
 * @internal
 */
export const IN_PROCESS_STORE = Symbol('nest-oidc-logout.inProcessStore');

/**
 * Whether `store` is an instance of a library class that carries {@link IN_PROCESS_STORE} itself:
 * an app's subclass (which may add I/O of its own) has its spans. @internal
 */
export function isInProcessStore(store: object): boolean {
  const proto = Object.getPrototypeOf(store) as object | null;
  return (
    proto !== null &&
    Object.prototype.hasOwnProperty.call(proto, IN_PROCESS_STORE) &&
    (store as { [IN_PROCESS_STORE]?: unknown })[IN_PROCESS_STORE] === true
  );
}
