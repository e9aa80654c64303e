import type { SessionLookupCacheOptions } from './session-lookup-cache';
import type { StatementBatchLimits } from './statement-batcher';

/** Default {@link TypeOrmOidcSessionRepositoryOptions.batching}. */
const DEFAULT_BATCHING: StatementBatchLimits = { maxConcurrent: 2, maxSize: 100 };

/**
 * Options of `TypeOrmOidcSessionRepository`, also the root option `typeOrmRepository`. In a file of its
 * own, without typeorm's types, so that the root entry's declarations compile in an app that does not
 * install `typeorm`.
 *
 * @publicApi
 */
export interface TypeOrmOidcSessionRepositoryOptions {
  /**
   * PostgreSQL only: concurrent guard lookups, logout-token claims, tombstones and logout removals
   * of one kind share a statement. A call runs at once while fewer than `maxConcurrent` statements
   * of its kind are running; otherwise it waits for the next one, which takes every call that
   * waited (up to `maxSize`). Light load runs each call alone, as without batching; under load a
   * call costs a fraction of a round trip and of a commit. Every call still sees what was committed
   * before it was made. `false` runs one statement per call. Default
   * `{ maxConcurrent: 2, maxSize: 100 }`; each kind uses at most `maxConcurrent` pool connections.
   *
   * @example
   * ```ts
   * new TypeOrmOidcSessionRepository(dataSource, { batching: { maxConcurrent: 4 } });
   * ```
   */
  batching?: Partial<StatementBatchLimits> | false;
  /**
   * PostgreSQL only, off by default: the guard's answer for a session found live is remembered in
   * this process for up to `ttlMs` (and never past the session's expiry), so that most requests
   * need no query at all. A removal on this instance drops it at once; a removal on another instance
   * drops it when PostgreSQL delivers the notification of that instance's `DELETE` (`LISTEN`/
   * `NOTIFY`, milliseconds after its commit): turn `notifyRemovals` on for every instance sharing
   * the database. Nothing is remembered while the listening connection is down (it reconnects every
   * second), and everything is forgotten when it is lost. Only "live" is remembered, never "absent".
   * `true` takes the defaults (`{ ttlMs: 5000, maxEntries: 10000 }`). The listening connection is
   * one of the pool's; `TypeOrmOidcSessionRepository.close` (called when the Nest module is
   * destroyed) gives it back.
   *
   * @example
   * ```ts
   * new TypeOrmOidcSessionRepository(dataSource, { lookupCache: { ttlMs: 5000 } });
   * ```
   */
  lookupCache?: SessionLookupCacheOptions | boolean;
  /**
   * PostgreSQL only: every `DELETE` of a session announces its id on the channel
   * `oidc_logout_sessions_removed` (`pg_notify`, delivered at commit), for the lookup caches of
   * the instances that listen. Default: `true` when `lookupCache` is on, else `false`. An instance
   * that does not cache but shares the database with one that does must turn it on.
   */
  notifyRemovals?: boolean;
  /**
   * PostgreSQL only: the hot-path statements (lookups, claims, tombstones, removals) run as named
   * prepared statements, parsed and planned once per pool connection. Default `true`. A pooler
   * that refuses them (PgBouncer in transaction mode before 1.21) makes the stores fall back to
   * unnamed statements by themselves; turn them off for one that accepts them but pins a
   * connection per prepared statement instead. Applies to the logout-event store on the same
   * DataSource too when the module builds both.
   */
  preparedStatements?: boolean;
}

/**
 * The batching limits `batching` asks for (the defaults filled in), or `false`; throws a
 * `RangeError` naming the limit that is not a positive integer.
 *
 * @internal
 */
export function resolveBatching(
  batching: TypeOrmOidcSessionRepositoryOptions['batching'],
): StatementBatchLimits | false {
  if (batching === false) return false;
  const limits = { ...DEFAULT_BATCHING, ...batching };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new RangeError(
        `TypeOrmOidcSessionRepository: batching.${name} must be a positive integer, got ${String(value)}`,
      );
    }
  }
  return limits;
}
