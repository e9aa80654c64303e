import { Logger } from '@nestjs/common';
import type { OidcLogoutEventBegin, OidcLogoutEventOutcome } from './oidc-logout-event.store';

/** One entry of {@link BoundedLogoutEventStore}. */
interface StoredLogoutEvent {
  /** Epoch seconds, tombstones only. */
  readonly issuedAt: number | undefined;
  /** Epoch milliseconds. */
  readonly expiresAt: number;
  /** Claims only: whether the logout it stands for was applied. */
  readonly applied: boolean;
}

/**
 * The error of a per-process logout-event store that is full of live entries: the new entry is
 * refused rather than a live one forgotten (a replayed token would be applied again, a late login
 * would miss its logout). Callers treat it as a store failure and fail closed.
 *
 * @publicApi
 */
export class LogoutEventStoreFullError extends Error {
  override readonly name = 'LogoutEventStoreFullError';
}

/** How often, at most, a full store logs that it refuses entries. */
const FULL_WARNING_INTERVAL_MS = 60_000;

/**
 * Logout-event claims and tombstones in a bounded map. When a new entry would exceed `maxEntries`,
 * expired entries are dropped; when every entry is live, the new one is refused with a
 * {@link LogoutEventStoreFullError} (logged, at most once a minute): a live entry is never dropped
 * to make room. Claims and tombstones share the bound but not their keys.
 *
 * @internal
 */
export class BoundedLogoutEventStore {
  private readonly logger = new Logger('OidcLogout');
  /** Internal key: `c` or `t`, then the caller's key. */
  private readonly entries = new Map<string, StoredLogoutEvent>();
  /** A lower bound of every stored `expiresAt`: no entry can be expired before it. */
  private earliestExpiry = Number.POSITIVE_INFINITY;
  private lastFullWarning = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly options: {
      readonly maxEntries: number;
      readonly now: () => number;
      /** Who holds the store, for the warning when it is full. */
      readonly description: string;
    },
  ) {}

  /** How many entries are held, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * See `OidcLogoutEventStore.begin`: the claim and the tombstone, both or neither (room for every
   * new entry is made, or refused, before either is written). @throws LogoutEventStoreFullError
   */
  begin(event: OidcLogoutEventBegin): OidcLogoutEventOutcome {
    const { claim, tombstone } = event;
    const fresh = [claim && `c${claim.key}`, tombstone && `t${tombstone.key}`].filter(
      (id): id is string => id !== undefined && !this.entries.has(id),
    ).length;
    this.makeRoom(fresh);
    const outcome = claim ? this.claim(claim.key, claim.expiresAt.getTime()) : 'apply';
    if (tombstone) {
      this.saveTombstone(tombstone.key, tombstone.issuedAt, tombstone.expiresAt.getTime());
    }
    return outcome;
  }

  /** Claims `key` until `expiresAt` (epoch ms). @throws LogoutEventStoreFullError */
  private claim(key: string, expiresAt: number): OidcLogoutEventOutcome {
    const id = `c${key}`;
    const current = this.entries.get(id);
    if (current && current.expiresAt > this.options.now()) {
      if (current.applied) return 'replay';
      // Claimed, not applied: a failed or concurrent application. Apply again.
      this.put(id, {
        issuedAt: undefined,
        expiresAt: Math.max(current.expiresAt, expiresAt),
        applied: false,
      });
      return 'apply';
    }
    this.put(id, { issuedAt: undefined, expiresAt, applied: false });
    return 'apply';
  }

  /** Marks a live claim applied; anything else is left as it is. */
  complete(key: string): void {
    const id = `c${key}`;
    const current = this.entries.get(id);
    if (current && !current.applied && current.expiresAt > this.options.now()) {
      this.entries.set(id, { ...current, applied: true });
    }
  }

  /** Upserts a tombstone (the larger `issuedAt`, the later expiry). @throws LogoutEventStoreFullError */
  private saveTombstone(key: string, issuedAt: number, expiresAt: number): void {
    const id = `t${key}`;
    const current = this.entries.get(id);
    if (current && current.expiresAt > this.options.now()) {
      this.put(id, {
        issuedAt: Math.max(current.issuedAt ?? issuedAt, issuedAt),
        expiresAt: Math.max(current.expiresAt, expiresAt),
        applied: false,
      });
    } else {
      this.put(id, { issuedAt, expiresAt, applied: false });
    }
  }

  findTombstones(keys: readonly string[]): Map<string, number> {
    const found = new Map<string, number>();
    if (keys.length === 0) return found;
    const now = this.options.now();
    for (const key of keys) {
      const entry = this.entries.get(`t${key}`);
      if (entry?.issuedAt !== undefined && entry.expiresAt > now) found.set(key, entry.issuedAt);
    }
    return found;
  }

  /** Deletes entries with `expiresAt <= now`; returns how many. Skips the scan when none can be. */
  removeExpired(now: number): number {
    if (now < this.earliestExpiry) return 0;
    let count = 0;
    let earliest = Number.POSITIVE_INFINITY;
    for (const [id, entry] of this.entries) {
      if (entry.expiresAt <= now) {
        this.entries.delete(id);
        count++;
      } else if (entry.expiresAt < earliest) {
        earliest = entry.expiresAt;
      }
    }
    this.earliestExpiry = earliest;
    return count;
  }

  clear(): void {
    this.entries.clear();
    this.earliestExpiry = Number.POSITIVE_INFINITY;
  }

  /** Makes room for `count` new entries, of expired entries only, or refuses. */
  private makeRoom(count: number): void {
    if (count === 0 || this.entries.size + count <= this.options.maxEntries) return;
    const now = this.options.now();
    this.removeExpired(now);
    if (this.entries.size + count > this.options.maxEntries) this.refuse(now);
  }

  /** Writes an entry; a new one needs room, made of expired entries only. */
  private put(id: string, entry: StoredLogoutEvent): void {
    if (!this.entries.has(id)) this.makeRoom(1);
    this.entries.set(id, entry);
    if (entry.expiresAt < this.earliestExpiry) this.earliestExpiry = entry.expiresAt;
  }

  private refuse(now: number): never {
    const message =
      `${this.options.description} is full of live logout events (maxEntries ` +
      `${this.options.maxEntries})`;
    if (now - this.lastFullWarning >= FULL_WARNING_INTERVAL_MS) {
      this.lastFullWarning = now;
      this.logger.warn(
        `${message}: refusing new ones until some expire rather than forgetting a live one (a ` +
          'replayed logout token would be applied again, a late login would miss its logout). ' +
          'Back-channel logouts are kept and retried meanwhile (answered 400). Raise maxEntries ' +
          'or use a store with a shared database (TypeOrmOidcLogoutEventStore).',
      );
    }
    throw new LogoutEventStoreFullError(message);
  }
}
