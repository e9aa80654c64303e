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
 * Logout events (replay claims of logout tokens, tombstones) live in a store of their own,
 * {@link OidcLogoutEventStore}. Records expire: the store drops expired ones itself (a TTL, a
 * periodic delete); an expired record is never returned anyway. Four methods are abstract; the one
 * optional method, `existsByClientSessionId`, answers from `findByClientSessionId` unless overridden.
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
   * guard asks it on every request. Like every method it never answers `false` for a store that
   * cannot answer: it rejects, and the guard fails closed (503).
   *
   * Optional for custom implementations: the default asks `findByClientSessionId`. Override it when
   * the store can tell existence more cheaply than it can build the record.
   */
  existsByClientSessionId(clientSessionId: string): Promise<boolean> {
    return this.findByClientSessionId(clientSessionId).then(isDefined);
  }

  /** Removes the record of a hashed application session id; returns it, or `undefined`. */
  abstract removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined>;

  /** Removes every record a verified logout identifies; returns exactly those removed. */
  abstract removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]>;
}

const isDefined = (value: unknown): boolean => value !== undefined;

/**
 * The internal hook of the library's own session stores that answers existence synchronously when
 * it can (the in-memory store): `(clientSessionId) => boolean | Promise<boolean>`. The checked
 * wrapper recognises it; it is no part of the public contract.
 *
 * @internal
 */
export const EXISTS_NOW = Symbol('nest-oidc-logout.existsNow');

/** A session store with the {@link EXISTS_NOW} hook. @internal */
export interface SyncExistence {
  [EXISTS_NOW](clientSessionId: string): boolean | Promise<boolean>;
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
