/**
 * A logout the library begins to apply: the replay claim of its logout token and its tombstone,
 * recorded together by {@link OidcLogoutEventStore.begin}. Keys are opaque strings of 1 to
 * {@link LOGOUT_EVENT_KEY_MAX_LENGTH} characters that the library builds (hashes); claims and
 * tombstones are separate namespaces, and keys are compared exactly.
 *
 * @publicApi
 */
export interface OidcLogoutEventBegin {
  /**
   * The replay claim of a back-channel logout token (its issuer, client id and `jti`), kept until
   * `expiresAt`. Absent for a logout without a token (front channel, `LogoutService.revoke`).
   */
  claim?: { key: string; expiresAt: Date };
  /**
   * The logout's tombstone, kept until `expiresAt`: `issuedAt` (epoch seconds) is the `iat` of the
   * logout, so that a login recorded after the logout but issued before it is refused.
   */
  tombstone?: { key: string; issuedAt: number; expiresAt: Date };
}

/**
 * What {@link OidcLogoutEventStore.begin} decided: `'apply'` the logout (new, or claimed by an
 * application that did not complete), or it is a `'replay'` of a logout already applied.
 *
 * @publicApi
 */
export type OidcLogoutEventOutcome = 'apply' | 'replay';

/**
 * The store of logout events, beside the session store ({@link OidcSessionRepository}): replay
 * claims of logout tokens and logout tombstones (a logout that arrives before the login it ends was
 * recorded). It is both the contract and the injection token. Every app instance sharing the session
 * store must share it too, or a logout seen by one instance is unknown to the others.
 * Implementations: `TypeOrmOidcLogoutEventStore` (`nest-oidc-logout/typeorm`, the table
 * `oidc_logout_events`) and {@link InMemoryOidcLogoutEventStore} (one process only). The module
 * option `logoutEventStore` picks one; the default is TypeORM on the app's DataSource when there is
 * one, else the in-memory store (with a startup warning).
 *
 * Contract (the shared contract test suite checks every implementation against it):
 * - A claim has a state: claimed (not yet applied) until {@link OidcLogoutEventStore.complete} marks
 *   it applied. Only an applied, live claim makes a token a replay; a claim never outlives a logout
 *   that was not applied (a retry or a re-delivery applies it again, on any instance).
 * - A live tombstone saved again keeps the larger `issuedAt` and the later `expiresAt`; an expired
 *   entry (claim or tombstone, `expiresAt <= now`) counts as absent and is replaced.
 * - Entries expire: the store drops them itself (a TTL, a periodic delete); an expired entry is
 *   never answered anyway.
 * - Every method rejects when the store cannot answer (never `'apply'`, `'replay'` or an empty map
 *   by default), and a bounded store refuses a new entry (rejects) rather than forget a live one.
 *
 * @publicApi
 */
export abstract class OidcLogoutEventStore {
  /**
   * Records a logout's claim and tombstone in one atomic step, and answers whether to apply it:
   * - with a `claim`: `'replay'` only when its key is live and applied; otherwise the key is claimed
   *   (inserted, taken over when expired, or kept claimed until the later of both expiries when it
   *   is live and still claimed) and the answer is `'apply'`;
   * - without a `claim`: `'apply'`.
   *
   * The `tombstone`, when given, is recorded in either case (a replay's tombstone is live already,
   * and recording it again changes nothing a login can see). Either both are written or neither
   * (the call rejects).
   */
  abstract begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome>;

  /**
   * Marks a claim applied: until it expires, `begin` with the same claim key then answers
   * `'replay'`. The library calls it once the logout's sessions are removed. Completing a key that
   * is absent, expired or applied already changes nothing.
   */
  abstract complete(claimKey: string): Promise<void>;

  /**
   * The live (not expired) tombstones among `keys`, as `key -> issuedAt`. Unknown keys are absent
   * from the map; an empty `keys` resolves an empty map.
   */
  abstract findTombstones(keys: readonly string[]): Promise<Map<string, number>>;
}

/** Longest logout-event key, in UTF-16 code units. */
export const LOGOUT_EVENT_KEY_MAX_LENGTH = 128;

/**
 * The internal hook through which the library's own stores delete their expired entries (the
 * cleanup service calls it): `(now: Date) => Promise<number>`. Not part of any public type; a custom
 * store expires its own entries.
 *
 * @internal
 */
export const EXPIRE_ENTRIES = Symbol('nest-oidc-logout.expireEntries');

/** A store with the {@link EXPIRE_ENTRIES} hook. @internal */
export interface ExpiringStore {
  [EXPIRE_ENTRIES](now: Date): Promise<number>;
}

/** Whether `store` has the {@link EXPIRE_ENTRIES} hook. @internal */
export function isExpiringStore(store: unknown): store is ExpiringStore {
  return (
    typeof store === 'object' &&
    store !== null &&
    typeof (store as Partial<ExpiringStore>)[EXPIRE_ENTRIES] === 'function'
  );
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

/** Throws a `TypeError` unless `event` is a well-formed {@link OidcLogoutEventBegin}. @internal */
export function assertLogoutEventBegin(event: unknown): asserts event is OidcLogoutEventBegin {
  if (typeof event !== 'object' || event === null) {
    throw new TypeError('A logout event must be an object');
  }
  const { claim, tombstone } = event as OidcLogoutEventBegin;
  if (claim !== undefined) {
    assertLogoutEventKey(claim.key);
    assertValidDate(claim.expiresAt, 'claim.expiresAt');
  }
  if (tombstone !== undefined) {
    assertLogoutEventKey(tombstone.key);
    assertEpochSeconds(tombstone.issuedAt);
    assertValidDate(tombstone.expiresAt, 'tombstone.expiresAt');
  }
}

/** The error to reject with: `error` itself when it is an `Error`. @internal */
export function asError(error: unknown): Error {
  return error instanceof Error ? error : new TypeError(String(error));
}
