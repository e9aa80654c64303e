/**
 * The Redis stores on a real Redis Cluster of three masters (Debian's redis-server, started by the
 * test): every key of a store is in the slot of its prefix's hash tag, so each script runs on one
 * node, with ioredis's `Cluster` and node-redis's `createCluster` alike. The contract suites run
 * unchanged on it, and the keys are checked to sit in one slot.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import {
  redisClusterMissing,
  startRedisCluster,
  type RedisCluster,
} from '../fixtures/redis-cluster';
import { announceRedis, openRedisCluster, REDIS_CLUSTER_CLIENT_KINDS } from '../fixtures/redis';
import {
  describeOidcLogoutEventStoreContract,
  describeOidcSessionRepositoryContract,
} from '../repository/oidc-session-repository.contract';

const missing = redisClusterMissing();
if (missing) console.warn(`[nest-oidc-logout] SKIPPED the Redis Cluster suites: ${missing}`);
const enabled = announceRedis('the Redis Cluster suites') && missing === undefined;

describe.skipIf(!enabled)('Redis stores on a Redis Cluster of three masters', () => {
  let cluster: RedisCluster;
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 60_000);
  afterAll(() => cluster?.close());

  describe.each(REDIS_CLUSTER_CLIENT_KINDS)('with %s', (kind) => {
    describeOidcSessionRepositoryContract(`Redis Cluster (${kind})`, async () => {
      const redis = await openRedisCluster(kind, cluster.nodes);
      return {
        repository: RedisOidcSessionRepository.with(redis.client, { keyPrefix: redis.keyPrefix }),
        close: () => redis.close(),
      };
    });

    describeOidcLogoutEventStoreContract(`Redis Cluster (${kind})`, async () => {
      const redis = await openRedisCluster(kind, cluster.nodes);
      return {
        store: RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: redis.keyPrefix }),
        close: () => redis.close(),
      };
    });

    it('keeps every key of a prefix in one slot, on one node', async () => {
      const redis = await openRedisCluster(kind, cluster.nodes);
      try {
        const options = { keyPrefix: redis.keyPrefix };
        const repository = RedisOidcSessionRepository.with(redis.client, options);
        const events = RedisOidcLogoutEventStore.with(redis.client, options);
        for (let i = 0; i < 20; i++) {
          await repository.save({
            clientSessionId: hashSessionId(`session-${i}`),
            registrationId: 'main',
            issuer: 'https://op.example',
            clientId: 'app',
            sid: `sha256:${'s'.repeat(42)}${i % 10}`,
            sub: `user-${i}`,
            idToken: 'id.token.sig',
            expiresAt: new Date(Date.now() + 60_000),
            createdAt: new Date(),
          });
          await events.begin({
            claim: { key: `claim-${i}`, expiresAt: new Date(Date.now() + 60_000) },
            tombstone: { key: `tomb-${i}`, issuedAt: 1, expiresAt: new Date(Date.now() + 60_000) },
          });
        }
        const keys = await redis.keys();
        // 20 records, 10 sid and 20 sub index sets, 40 events, 2 expiry indexes.
        expect(keys).toHaveLength(20 + 10 + 20 + 40 + 2);
        const slots = new Set(keys.map(slotOf));
        expect(slots.size).toBe(1);
        const removed = await repository.removeByLogoutToken({
          issuer: 'https://op.example',
          clientId: 'app',
          sub: 'user-3',
        });
        expect(removed.map((info) => info.sub)).toEqual(['user-3']);
      } finally {
        await redis.close();
      }
    });
  });
});

/** The cluster slot of a key (CRC16 of its hash tag, mod 16384), as Redis computes it. */
function slotOf(key: string): number {
  const open = key.indexOf('{');
  const close = open < 0 ? -1 : key.indexOf('}', open + 1);
  const tag = close > open + 1 ? key.slice(open + 1, close) : key;
  let crc = 0;
  for (const byte of Buffer.from(tag)) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit++)
      crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16_384;
}
