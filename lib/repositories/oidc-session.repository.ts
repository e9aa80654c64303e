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
 * - A record whose `expiresAt` has passed is never returned by `findByClientSessionId`.
 * - `removeByLogoutToken` removes only records of the given issuer AND client id; with `sid`, only
 *   that OP session (and, when `sub` is given too, only if it matches); with `sub` alone, every
 *   session of that user. It returns exactly the records it removed.
 * - Every method rejects (throws) when the store cannot answer; it never pretends a session is
 *   absent, so that the guard can fail closed.
 *
 * @publicApi
 */
export abstract class OidcSessionRepository {
  /** Records (or replaces, for the same `clientSessionId`) a correlation. */
  abstract save(info: OidcSessionInfo): Promise<void>;

  /** The live record for a hashed application session id, or `undefined`. */
  abstract findByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined>;

  /** Removes the record of a hashed application session id; returns it, or `undefined`. */
  abstract removeByClientSessionId(clientSessionId: string): Promise<OidcSessionInfo | undefined>;

  /** Removes every record a verified logout identifies; returns exactly those removed. */
  abstract removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]>;

  /**
   * Deletes records whose `expiresAt` is at or before `now`; returns how many. The module calls it
   * periodically. Optional for custom implementations (the default does nothing), since expired
   * records are never returned anyway.
   */
  removeExpired(_now: Date): Promise<number> {
    return Promise.resolve(0);
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
