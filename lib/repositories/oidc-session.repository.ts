import { Logger } from '@nestjs/common';
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
 * compared exactly. These methods have a default implementation that keeps the entries in this
 * process only (a bounded map of {@link DEFAULT_LOGOUT_EVENT_MAX_ENTRIES} entries): a repository
 * shared by several app instances must override all four so that a logout seen by one instance is
 * known to the others. {@link TypeOrmOidcSessionRepository} does.
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
   * Claims a logout event, typically `iss` + `jti` of a back-channel logout token, until `expiresAt`.
   * Atomic: inserts `key` if it is absent, or present but expired (`expiresAt <= now`), and resolves
   * `true`; resolves `false` when `key` is claimed already and not expired (a replay). Of several
   * concurrent claims of one key, across every app instance sharing the store, exactly one resolves
   * `true`.
   *
   * Rejects with a `TypeError` for a key that is not a string of 1 to 128 characters or an invalid
   * Date, and (like every method) rejects when the store cannot answer: never `true` by default.
   *
   * The default keeps claims in this process only (bounded; when full, expired entries are dropped
   * first, then the oldest): override it in a repository shared by several instances.
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
   * Gives up a claim made by {@link OidcSessionRepository.claimLogoutEvent}, so that the same logout
   * token can be applied when the OP sends it again: the library calls it when applying the logout
   * failed after the claim. Releasing a key that is not claimed does nothing. Override it together
   * with `claimLogoutEvent`.
   */
  releaseLogoutEvent(key: string): Promise<void> {
    try {
      assertLogoutEventKey(key);
      localEvents.get(this)?.release(key);
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
}

/**
 * Logout-event claims and tombstones in a bounded, insertion-ordered map. When a new entry would
 * exceed `maxEntries`, expired entries are dropped first, then the oldest-inserted live ones (with a
 * warning, once). Claims and tombstones share the bound but not their keys.
 *
 * @internal
 */
export class BoundedLogoutEventStore {
  private readonly logger = new Logger('OidcLogout');
  /** Internal key: `c` or `t`, then the caller's key. Insertion-ordered: the first is the oldest. */
  private readonly entries = new Map<string, StoredLogoutEvent>();
  /** A lower bound of every stored `expiresAt`: no entry can be expired before it. */
  private earliestExpiry = Number.POSITIVE_INFINITY;
  private evictionWarned = false;

  constructor(
    private readonly options: {
      readonly maxEntries: number;
      readonly now: () => number;
      /** Who holds the store, for the eviction warning. */
      readonly description: string;
    },
  ) {}

  /** How many entries are held, expired ones not yet dropped included. */
  get size(): number {
    return this.entries.size;
  }

  claim(key: string, expiresAt: number): boolean {
    const id = `c${key}`;
    const current = this.entries.get(id);
    if (current && current.expiresAt > this.options.now()) return false;
    this.put(id, { issuedAt: undefined, expiresAt });
    return true;
  }

  release(key: string): void {
    this.entries.delete(`c${key}`);
  }

  saveTombstone(key: string, issuedAt: number, expiresAt: number): void {
    const id = `t${key}`;
    const current = this.entries.get(id);
    if (current && current.expiresAt > this.options.now()) {
      this.put(id, {
        issuedAt: Math.max(current.issuedAt ?? issuedAt, issuedAt),
        expiresAt: Math.max(current.expiresAt, expiresAt),
      });
    } else {
      this.put(id, { issuedAt, expiresAt });
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

  private put(id: string, entry: StoredLogoutEvent): void {
    // A rewritten entry counts as newly inserted: it moves to the young end.
    if (!this.entries.delete(id) && this.entries.size >= this.options.maxEntries) this.makeRoom();
    this.entries.set(id, entry);
    if (entry.expiresAt < this.earliestExpiry) this.earliestExpiry = entry.expiresAt;
  }

  private makeRoom(): void {
    this.removeExpired(this.options.now());
    while (this.entries.size >= this.options.maxEntries) {
      const oldest = this.entries.keys().next();
      if (oldest.done) return;
      this.entries.delete(oldest.value);
      if (!this.evictionWarned) {
        this.evictionWarned = true;
        this.logger.warn(
          `${this.options.description} is full (maxEntries ${this.options.maxEntries}): evicting ` +
            'the oldest live logout events, so a replayed logout token may be processed again and ' +
            'a late login may miss its logout. Use a repository with a shared database ' +
            '(TypeOrmOidcSessionRepository) instead.',
        );
      }
    }
  }
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
