/**
 * Options of the Redis stores (`RedisOidcSessionRepository`, `RedisOidcLogoutEventStore`).
 *
 * @publicApi
 */
export interface RedisStoreOptions {
  /**
   * What every key starts with, inside braces: `{oidc-logout}:...`. The braces make it a Redis
   * Cluster hash tag, so all keys of the stores are in one slot and every operation is one atomic
   * script on one node. Give each deployment sharing a Redis its own prefix; the session repository
   * and the logout-event store of one deployment may share theirs. 1 to 64 characters, no braces.
   * Default `'oidc-logout'`.
   */
  keyPrefix?: string;
  /** Clock in epoch milliseconds that decides expiry; injectable for tests. Default `Date.now`. */
  now?: () => number;
}
