import { Logger } from '@nestjs/common';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';

/**
 * The session-correlation store: application session <-> OP `iss`/`sid`/`sub`. It is both the
 * contract and the injection token (like `ThrottlerStorage`), mirroring Spring Security's
 * `OidcSessionRegistry`.
 *
 * It is the single source of truth of the library: every app instance that shares it sees a
 * revocation made through any of them. Implementations:
 * {@link TypeOrmOidcSessionRepository} (SQLite, PostgreSQL, MySQL/MariaDB) and
 * {@link InMemoryOidcSessionRepository} (one process only). Provide your own through the
 * `sessionRepository` option, or in tests with `overrideProvider(OidcSessionRepository)`.
 *
 * Contract (the shared contract test suite checks every implementation against it):
 * - `clientSessionId` values are already hashed by the library; store and compare them as given.
 * - A record whose `expiresAt` has passed is never returned by `findByClientSessionId` (and
 *   `existsByClientSessionId` answers `false` for it).
 * - `removeByLogoutToken` removes only records of the given issuer AND client id; with `sid`, only
 *   that OP session (and, when `sub` is given too, only if it matches); with `sub` alone, every
 *   session of that user. It returns exactly the records it removed.
 * - Every method rejects (throws) when the store cannot answer; it never pretends a session is
 *   absent, so that the guard can fail closed.
 *
 * It also keeps two small stores of logout events, each entry with its own expiry: the claims of
 * back-channel logout tokens (replay protection, {@link OidcSessionRepository.claimLogoutEvent}) and
 * logout tombstones (a logout that arrives before the login it ends was recorded,
 * {@link OidcSessionRepository.saveLogoutTombstone}). Their keys are opaque strings (at most 128
 * characters) that the library builds; claims and tombstones are separate namespaces, and keys are
 * compared exactly. A claim is claimed until the library completes it
 * ({@link OidcSessionRepository.completeLogoutEvent}), once the logout is applied: only an applied
 * claim makes a token a replay. These methods have a default implementation that keeps the entries
 * in this process only (a bounded map of {@link DEFAULT_LOGOUT_EVENT_MAX_ENTRIES} entries, which
 * refuses new entries rather than forget live ones): a repository shared by several app instances
 * must override all five so that a logout seen by one instance is known to the others.
 * {@link TypeOrmOidcSessionRepository} does. `claimLogoutEvent` and `completeLogoutEvent` go
 * together: a repository that overrides one of them only is refused at startup.
 *
 * @publicApi
 */
export abstract class OidcSessionRepository {
  /** Records (or replaces, for the same `clientSessionId`) a correlation. */
  abstract save(info: OidcSessionInfo): Promise<void>;

  /** The live record for a hashed application session id, or `undefined`. */
  abstract findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined>;

  /**
   * Whether a live record exists for a hashed application session id: always the same answer as
   * `(await findByClientSessionId(clientSessionId)) !== undefined`, without building the record. The
   * guard asks it on every request.
   *
   * It may answer synchronously (a `boolean`) when the store can, as
   * {@link InMemoryOidcSessionRepository} does: the guard then lets the request through without
   * waiting for a promise. Like every method it never answers `false` for a store that cannot
   * answer: it throws or rejects, and the guard fails closed (503).
   *
   * Optional for custom implementations: the default asks `findByClientSessionId`. Override it when
   * the store can tell existence more cheaply than it can build the record.
   */
  existsByClientSessionId(clientSessionId: string): boolean | Promise<boolean> {
    return this.findByClientSessionId(clientSessionId).then(isDefined);
  }

  /** Removes the record of a hashed application session id; returns it, or `undefined`. */
  abstract removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined>;

  /** Removes every record a verified logout identifies; returns exactly those removed. */
  abstract removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]>;

  /**
   * Deletes records whose `expiresAt` is at or before `now`, and logout events (claims and
   * tombstones) that expired at or before `now`; returns how many, both kinds together. The module
   * calls it periodically.
   *
   * Optional for custom implementations, since expired records are never returned anyway: the
   * default deletes only the expired entries of the default per-process logout-event store. An
   * override that keeps that default store should add `await super.removeExpired(now)` to its count.
   */
  removeExpired(now: Date): Promise<number> {
    try {
      assertValidDate(now, 'now');
      return Promise.resolve(localEvents.get(this)?.removeExpired(now.getTime()) ?? 0);
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  /**
   * Claims a logout event, typically a back-channel logout token (its issuer, client id and `jti`),
   * until `expiresAt`: whether the caller is to apply it. A claim has a state: claimed (not yet
   * applied) until {@link OidcSessionRepository.completeLogoutEvent} marks it applied. Atomic;
   * resolves:
   * - `true` when `key` is absent, or present but expired (`expiresAt <= now`): it is inserted (or
   *   taken over) in state claimed, until `expiresAt`;
   * - `true` when `key` is live and still claimed (a logout that failed half-way, or a concurrent
   *   delivery of the same token): it stays claimed, until the later of both expiries. The caller
   *   applies the logout again, which is idempotent;
   * - `false` only when `key` is live and applied (a replay).
   *
   * So a claim never outlives a logout that was not applied: a retry or a re-delivery applies it,
   * on any instance sharing the store.
   *
   * Rejects with a `TypeError` for a key that is not a string of 1 to 128 characters or an invalid
   * Date, and (like every method) rejects when the store cannot answer: never `true` or `false` by
   * default.
   *
   * The default keeps claims in this process only (bounded: when it is full of live entries, it
   * refuses the new one with an error rather than forget one): override it, together with
   * `completeLogoutEvent`, in a repository shared by several instances.
   */
  claimLogoutEvent(key: string, expiresAt: Date): Promise<boolean> {
    try {
      assertLogoutEventKey(key);
      assertValidDate(expiresAt, 'expiresAt');
      return Promise.resolve(localEventStore(this).claim(key, expiresAt.getTime()));
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  /**
   * Marks a claim made by {@link OidcSessionRepository.claimLogoutEvent} applied: until it expires,
   * a claim of the same key then resolves `false` (a replay). The library calls it only once the
   * logout's tombstone and its removal committed. Completing a key that is absent, expired or
   * applied already changes nothing. Override it together with `claimLogoutEvent` (the module
   * refuses to start with a repository that overrides only one of them).
   */
  completeLogoutEvent(key: string): Promise<void> {
    try {
      assertLogoutEventKey(key);
      localEvents.get(this)?.complete(key);
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  /**
   * Records (upserts) a logout tombstone until `expiresAt`: `issuedAt` (epoch seconds) is the `iat`
   * of the logout it stands for. When a live tombstone with this key exists already, it keeps the
   * larger `issuedAt` and the later `expiresAt`; an expired one is replaced.
   *
   * Rejects with a `TypeError` for an invalid key, a negative or non-integer `issuedAt` or an invalid
   * Date. The default keeps tombstones in this process only (bounded like the claims): override it
   * in a repository shared by several instances.
   */
  saveLogoutTombstone(key: string, issuedAt: number, expiresAt: Date): Promise<void> {
    try {
      assertLogoutEventKey(key);
      assertEpochSeconds(issuedAt);
      assertValidDate(expiresAt, 'expiresAt');
      localEventStore(this).saveTombstone(key, issuedAt, expiresAt.getTime());
      return Promise.resolve();
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }

  /**
   * The live (not expired) tombstones among `keys`, as `key -> issuedAt`. Unknown keys are absent
   * from the map; an empty `keys` resolves an empty map without asking the store.
   *
   * The default reads the per-process store of {@link OidcSessionRepository.saveLogoutTombstone}.
   */
  findLogoutTombstones(keys: readonly string[]): Promise<Map<string, number>> {
    try {
      for (const key of keys) assertLogoutEventKey(key);
      const store = localEvents.get(this);
      return Promise.resolve(store ? store.findTombstones(keys) : new Map<string, number>());
    } catch (error) {
      return Promise.reject(asError(error));
    }
  }
}

/** Most entries of the default, per-process logout-event store of {@link OidcSessionRepository}. */
export const DEFAULT_LOGOUT_EVENT_MAX_ENTRIES = 10_000;

/** Longest logout-event key, in UTF-16 code units. */
export const LOGOUT_EVENT_KEY_MAX_LENGTH = 128;

const isDefined = (value: unknown): boolean => value !== undefined;

/** The default stores, kept outside the class so that its public shape stays methods only. */
const localEvents = new WeakMap<OidcSessionRepository, BoundedLogoutEventStore>();

function localEventStore(repository: OidcSessionRepository): BoundedLogoutEventStore {
  let store = localEvents.get(repository);
  if (!store) {
    store = new BoundedLogoutEventStore({
      maxEntries: DEFAULT_LOGOUT_EVENT_MAX_ENTRIES,
      now: Date.now,
      description:
        `${repository.constructor.name}: the default per-process logout-event store ` +
        '(OidcSessionRepository.claimLogoutEvent / saveLogoutTombstone)',
    });
    localEvents.set(repository, store);
  }
  return store;
}

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

  /** See `OidcSessionRepository.claimLogoutEvent`. @throws LogoutEventStoreFullError */
  claim(key: string, expiresAt: number): boolean {
    const id = `c${key}`;
    const current = this.entries.get(id);
    if (current && current.expiresAt > this.options.now()) {
      if (current.applied) return false;
      // Claimed, not applied: a failed or concurrent application. Apply again.
      this.put(id, {
        issuedAt: undefined,
        expiresAt: Math.max(current.expiresAt, expiresAt),
        applied: false,
      });
      return true;
    }
    this.put(id, { issuedAt: undefined, expiresAt, applied: false });
    return true;
  }

  /** Marks a live claim applied; anything else is left as it is. */
  complete(key: string): void {
    const id = `c${key}`;
    const current = this.entries.get(id);
    if (current && !current.applied && current.expiresAt > this.options.now()) {
      this.entries.set(id, { ...current, applied: true });
    }
  }

  /** See `OidcSessionRepository.saveLogoutTombstone`. @throws LogoutEventStoreFullError */
  saveTombstone(key: string, issuedAt: number, expiresAt: number): void {
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

  /** Writes an entry; a new one needs room, made of expired entries only. */
  private put(id: string, entry: StoredLogoutEvent): void {
    if (!this.entries.has(id) && this.entries.size >= this.options.maxEntries) {
      const now = this.options.now();
      this.removeExpired(now);
      if (this.entries.size >= this.options.maxEntries) this.refuse(now);
    }
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
          'or use a repository with a shared database (TypeOrmOidcSessionRepository).',
      );
    }
    throw new LogoutEventStoreFullError(message);
  }
}

/**
 * Throws an `OidcLogoutOptionsError` when `repository` overrides one of `claimLogoutEvent` and
 * `completeLogoutEvent` but not the other: its claims would then be completed (or claimed) in the
 * per-process default store, which never sees them, so that every token would count as a replay or
 * none ever would.
 *
 * @internal
 */
export function assertLogoutEventMethodsPaired(repository: OidcSessionRepository): void {
  // A repository object that does not extend the class may lack a method: it then has the default.
  const own = (name: 'claimLogoutEvent' | 'completeLogoutEvent'): boolean => {
    const method: unknown = Reflect.get(repository, name);
    return (
      typeof method === 'function' && method !== Reflect.get(OidcSessionRepository.prototype, name)
    );
  };
  const claims = own('claimLogoutEvent');
  const completes = own('completeLogoutEvent');
  if (claims === completes) return;
  const [overridden, missing] = claims
    ? ['claimLogoutEvent', 'completeLogoutEvent']
    : ['completeLogoutEvent', 'claimLogoutEvent'];
  throw new OidcLogoutOptionsError(
    `The session repository ${repository.constructor.name} overrides ${overridden} but not ` +
      `${missing}: implement both on the same store (a claim is claimed until ` +
      'completeLogoutEvent marks it applied; releaseLogoutEvent no longer exists), or neither ' +
      'to keep the per-process defaults.',
  );
}

/**
 * Throws a `TypeError` for criteria that identify nothing (no `sid` and no `sub`): a repository must
 * never turn such criteria into "every session of the client".
 *
 * @internal
 */
export function assertLogoutCriteria(criteria: OidcLogoutCriteria): void {
  if (!criteria.issuer || !criteria.clientId) {
    throw new TypeError('Logout criteria need an issuer and a clientId');
  }
  if (!criteria.sid && !criteria.sub) {
    throw new TypeError('Logout criteria need a sid or a sub');
  }
}

/**
 * Throws a `TypeError` unless `key` is a logout-event key: a string of 1 to
 * {@link LOGOUT_EVENT_KEY_MAX_LENGTH} characters. The message never quotes the key.
 *
 * @internal
 */
export function assertLogoutEventKey(key: unknown): asserts key is string {
  if (typeof key !== 'string' || key.length === 0 || key.length > LOGOUT_EVENT_KEY_MAX_LENGTH) {
    throw new TypeError(
      `A logout-event key must be a string of 1 to ${LOGOUT_EVENT_KEY_MAX_LENGTH} characters`,
    );
  }
}

/** Throws a `TypeError` unless `issuedAt` is a non-negative safe integer (epoch seconds). @internal */
export function assertEpochSeconds(issuedAt: unknown): asserts issuedAt is number {
  if (typeof issuedAt !== 'number' || !Number.isSafeInteger(issuedAt) || issuedAt < 0) {
    throw new TypeError(
      'A logout tombstone issuedAt must be a non-negative integer (epoch seconds)',
    );
  }
}

/** Throws a `TypeError` unless `value` is a valid `Date`. @internal */
export function assertValidDate(value: unknown, name: string): asserts value is Date {
  if (!(value instanceof Date) || !Number.isFinite(value.getTime())) {
    throw new TypeError(`${name} must be a valid Date`);
  }
}

/** The error to reject with: `error` itself when it is an `Error`. @internal */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new TypeError(String(error));
}
