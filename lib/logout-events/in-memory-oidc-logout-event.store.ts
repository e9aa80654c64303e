import { IN_PROCESS_STORE } from '../repositories/in-process-store';
import { BoundedLogoutEventStore } from './bounded-logout-event-store';
import {
  asError,
  assertLogoutEventBegin,
  assertLogoutEventKey,
  assertValidDate,
  EXPIRE_ENTRIES,
  OidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from './oidc-logout-event.store';

/** Default {@link InMemoryOidcLogoutEventStoreOptions.maxEntries}. */
export const DEFAULT_LOGOUT_EVENT_MAX_ENTRIES = 10_000;

/**
 * Options of {@link InMemoryOidcLogoutEventStore}.
 *
 * @publicApi
 */
export interface InMemoryOidcLogoutEventStoreOptions {
  /**
   * Most live entries (claims and tombstones together). When full of live ones, a new entry is
   * refused (`LogoutEventStoreFullError`: the back-channel logout is answered 400 and kept for a
   * retry) rather than a live one forgotten. Default 10,000.
   */
  maxEntries?: number;
  /** The clock, epoch ms (tests). Default `Date.now`. */
  now?: () => number;
}

/**
 * {@link OidcLogoutEventStore} in this process only: bounded, for development, tests and a single
 * instance. Several app instances need a shared store (`TypeOrmOidcLogoutEventStore`, or your own).
 *
 * @publicApi
 */
export class InMemoryOidcLogoutEventStore extends OidcLogoutEventStore {
  private readonly events: BoundedLogoutEventStore;

  constructor(options: InMemoryOidcLogoutEventStoreOptions = {}) {
    super();
    this.events = new BoundedLogoutEventStore({
      maxEntries: options.maxEntries ?? DEFAULT_LOGOUT_EVENT_MAX_ENTRIES,
      now: options.now ?? Date.now,
      description: 'The in-memory OIDC logout-event store',
    });
  }

  /** How many entries are held, expired ones not yet dropped included. */
  get size(): number {
    return this.events.size;
  }

  /** Its calls are this process's own work: timed, with no span of their own. @internal */
  get [IN_PROCESS_STORE](): true {
    return true;
  }

  override begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome> {
    try {
      assertLogoutEventBegin(event);
      return Promise.resolve(this.events.begin(event));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  override complete(claimKey: string): Promise<void> {
    try {
      assertLogoutEventKey(claimKey);
      this.events.complete(claimKey);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  override findTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    try {
      for (const key of keys) assertLogoutEventKey(key);
      return Promise.resolve(this.events.findTombstones(keys));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  /** Drops every entry. */
  clear(): void {
    this.events.clear();
  }

  /** Deletes the entries expired at `now`; answers how many. @internal */
  [EXPIRE_ENTRIES](now: Date): Promise<number> {
    try {
      assertValidDate(now, 'now');
      return Promise.resolve(this.events.removeExpired(now.getTime()));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }
}
