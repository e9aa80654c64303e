/**
 * `nest-oidc-logout/redis`: the session store and the logout-event store in Redis, on the app's own
 * client (ioredis or node-redis, connected and closed by the app). Loads no Redis package itself;
 * the root entry `nest-oidc-logout` never loads this one.
 *
 * @packageDocumentation
 */
export { RedisOidcSessionRepository } from './redis/redis-oidc-session.repository';
export { RedisOidcLogoutEventStore } from './redis/redis-oidc-logout-event.store';
export type { RedisStoreOptions } from './redis/redis-store.options';
export type {
  IoRedisClientLike,
  NodeRedisClientLike,
  NodeRedisClusterLike,
  RedisClientLike,
} from './redis/redis-client';
