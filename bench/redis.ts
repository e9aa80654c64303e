/**
 * The bench's Redis: the test server (`OIDC_LOGOUT_BENCH_REDIS_URL`, default
 * `redis://127.0.0.1:6379`), under a key prefix of the bench's own (`oidc-bench-<pid>`), with both
 * stores of `nest-oidc-logout/redis` on one ioredis client, as an app has them. Sessions are seeded
 * through the repository's own `save` (pipelined), as the SQL seeding stores them: session _i_ is
 * `bench-app-session-i`, OP session `bench-op-session-i`, user `bench-user-i`.
 *
 * The client has ioredis's `enableAutoPipelining` on, unless BENCH_REDIS_AUTOPIPELINING=0.
 */
import IORedis from 'ioredis';
import type { OidcLogoutModuleOptions } from '../lib';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../lib/redis';
import { seededSession, type SeedRow } from './databases';

export const REDIS_URL = process.env.OIDC_LOGOUT_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';

/** Saves in flight while seeding: ioredis pipelines them on one connection. */
const SEED_IN_FLIGHT = 512;

export interface BenchRedis {
  client: IORedis;
  keyPrefix: string;
  repository: RedisOidcSessionRepository;
  events: RedisOidcLogoutEventStore;
}

export async function openBenchRedis(): Promise<BenchRedis> {
  const client = new IORedis(REDIS_URL, {
    lazyConnect: true,
    enableAutoPipelining: process.env.BENCH_REDIS_AUTOPIPELINING !== '0',
  });
  await client.connect();
  const keyPrefix = `oidc-bench-${process.pid}`;
  const options = { keyPrefix };
  const redis = {
    client,
    keyPrefix,
    repository: RedisOidcSessionRepository.with(client, options),
    events: RedisOidcLogoutEventStore.with(client, options),
  };
  await deleteKeys(redis, '*');
  return redis;
}

/** The module's store options: both Redis stores. */
export function redisStoreOptions(redis: BenchRedis): Partial<OidcLogoutModuleOptions> {
  return { sessionRepository: redis.repository, logoutEventStore: redis.events };
}

/** Sessions `indices` (or `from` to `to - 1`) saved again; those present are replaced. */
export async function seedRedisSessions(
  redis: BenchRedis,
  row: SeedRow,
  indices: { from: number; to: number } | { list: readonly number[] },
): Promise<void> {
  const { list, from, to } =
    'list' in indices ? { list: indices.list, from: 0, to: 0 } : { list: undefined, ...indices };
  const count = list ? list.length : Math.max(0, to - from);
  const at = (k: number) => (list ? list[k]! : from + k);
  let next = 0;
  await Promise.all(
    Array.from({ length: SEED_IN_FLIGHT }, async () => {
      while (next < count) await redis.repository.save(seededSession(row, at(next++)));
    }),
  );
}

/** The login records held (the members of the expiry index). */
export async function countRedisSessions(redis: BenchRedis): Promise<number> {
  return redis.client.zcard(`{${redis.keyPrefix}}:x:s`);
}

/** Redis's own memory (`used_memory`), in bytes. */
export async function redisUsedMemory(redis: BenchRedis): Promise<number> {
  const info = await redis.client.info('memory');
  return Number(/used_memory:(\d+)/.exec(info)?.[1] ?? Number.NaN);
}

/** Empties the logout events (claims and tombstones of an earlier measurement). */
export async function clearRedisLogoutEvents(redis: BenchRedis): Promise<void> {
  await deleteKeys(redis, 'e:*');
  await redis.client.del(`{${redis.keyPrefix}}:x:e`);
}

/** Deletes every key of the bench and closes the client. */
export async function closeBenchRedis(redis: BenchRedis): Promise<void> {
  try {
    await deleteKeys(redis, '*');
  } finally {
    redis.client.disconnect();
  }
}

async function deleteKeys(redis: BenchRedis, pattern: string): Promise<void> {
  const match = `{${redis.keyPrefix}}:${pattern}`;
  let cursor = '0';
  do {
    const [next, keys] = await redis.client.scan(cursor, 'MATCH', match, 'COUNT', 10_000);
    if (keys.length > 0) await redis.client.unlink(...keys);
    cursor = next;
  } while (cursor !== '0');
}
