import { CheckedLogoutEventStore } from '../../lib/logout-events/checked-logout-event-store';
import { InMemoryOidcLogoutEventStore } from '../../lib/logout-events/in-memory-oidc-logout-event.store';
import {
  EXPIRE_ENTRIES,
  isExpiringStore,
  type OidcLogoutEventStore,
} from '../../lib/logout-events/oidc-logout-event.store';

/**
 * The five logout-event operations of 0.1.0's session repository, written with the event store's
 * calls: the tests of claims and tombstones keep their meaning, step for step.
 *
 * - `claimLogoutEvent(key, expiresAt)`: `begin` with the claim alone; `true` for `'apply'`.
 * - `saveLogoutTombstone(key, issuedAt, expiresAt)`: `begin` with the tombstone alone.
 * - `completeLogoutEvent(key)`: `complete`; `findLogoutTombstones(keys)`: `findTombstones`.
 * - `removeExpired(now)`: the internal expiry hook of the library's stores.
 */
export interface LogoutEventCalls {
  claimLogoutEvent(key: string, expiresAt: Date): Promise<boolean>;
  completeLogoutEvent(key: string): Promise<void>;
  saveLogoutTombstone(key: string, issuedAt: number, expiresAt: Date): Promise<void>;
  findLogoutTombstones(keys: readonly string[]): Promise<Map<string, number>>;
  removeExpired(now: Date): Promise<number>;
}

/** {@link LogoutEventCalls} on `store`. */
export function logoutEventCalls(store: OidcLogoutEventStore): LogoutEventCalls {
  return {
    claimLogoutEvent: async (key, expiresAt) =>
      (await store.begin({ claim: { key, expiresAt } })) === 'apply',
    completeLogoutEvent: (key) => store.complete(key),
    saveLogoutTombstone: async (key, issuedAt, expiresAt) => {
      await store.begin({ tombstone: { key, issuedAt, expiresAt } });
    },
    findLogoutTombstones: (keys) => store.findTombstones(keys),
    removeExpired: (now) => expireEntries(store, now),
  };
}

/** The internal expiry hook of a library store (what the cleanup service calls). */
export function expireEntries(store: object, now: Date): Promise<number> {
  if (!isExpiringStore(store)) throw new Error('not a store of the library');
  return store[EXPIRE_ENTRIES](now);
}

/** A checked in-memory event store, for unit tests that build a `LogoutService` by hand. */
export function inMemoryEvents(
  store = new InMemoryOidcLogoutEventStore(),
): CheckedLogoutEventStore {
  return new CheckedLogoutEventStore(store, { timeoutMs: 10_000 });
}
