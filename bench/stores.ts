/**
 * The shared stores of a bench run, SQL or Redis, behind one shape: the scale, guard and
 * back-channel sections seed, count and configure them alike.
 */
import type { DataSource } from 'typeorm';
import type { OidcLogoutModuleOptions } from '../lib';
import {
  countSessions,
  dropBenchDataSource,
  restoreSessionsSql,
  seedSessionsSql,
  type DatabaseKind,
  type SeedRow,
} from './databases';
import {
  closeBenchRedis,
  countRedisSessions,
  redisStoreOptions,
  seedRedisSessions,
  type BenchRedis,
} from './redis';

export type StoreKind = DatabaseKind | 'redis';

export const STORE_NAMES: Record<StoreKind, string> = {
  postgres: 'PostgreSQL',
  sqlite: 'SQLite',
  redis: 'Redis',
};

/** A shared store: a DataSource (PostgreSQL, SQLite) or the bench's Redis. */
export type BenchStore = { seededUpTo: number } & (
  { kind: DatabaseKind; dataSource: DataSource } | { kind: 'redis'; redis: BenchRedis }
);

/** The module options that put an app's sessions and logout events in `store`. */
export function storeOptions(store: BenchStore): Partial<OidcLogoutModuleOptions> {
  return store.kind === 'redis' ? redisStoreOptions(store.redis) : { dataSource: store.dataSource };
}

/** Sessions `from` to `to - 1` (those present already are kept, or saved again in Redis). */
export async function seedStore(
  store: BenchStore,
  row: SeedRow,
  from: number,
  to: number,
): Promise<void> {
  if (store.kind === 'redis') await seedRedisSessions(store.redis, row, { from, to });
  else await seedSessionsSql(store.dataSource, row, from, to);
}

/** Sessions `indices` again (those revoked by a measurement). */
export async function restoreStore(
  store: BenchStore,
  row: SeedRow,
  indices: readonly number[],
): Promise<void> {
  if (store.kind === 'redis') await seedRedisSessions(store.redis, row, { list: indices });
  else await restoreSessionsSql(store.dataSource, row, indices);
}

export function countStore(store: BenchStore): Promise<number> {
  return store.kind === 'redis' ? countRedisSessions(store.redis) : countSessions(store.dataSource);
}

export async function dropStore(store: BenchStore): Promise<void> {
  if (store.kind === 'redis') await closeBenchRedis(store.redis);
  else await dropBenchDataSource(store.dataSource);
}
