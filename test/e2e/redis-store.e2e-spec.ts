import { describe } from 'vitest';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { announceRedis, openRedis, REDIS_CLIENT_KINDS } from '../fixtures/redis';
import {
  describeOidcLogoutEventStoreContract,
  describeOidcSessionRepositoryContract,
} from '../repository/oidc-session-repository.contract';

const enabled = announceRedis('the Redis store suites');

describe.skipIf(!enabled).each(REDIS_CLIENT_KINDS)('Redis stores with %s', (kind) => {
  describeOidcSessionRepositoryContract(`Redis (${kind})`, async () => {
    const redis = await openRedis(kind);
    return {
      repository: RedisOidcSessionRepository.with(redis.client, { keyPrefix: redis.keyPrefix }),
      close: () => redis.close(),
    };
  });

  describeOidcSessionRepositoryContract(`Redis (${kind}) with an injected clock`, async () => {
    const redis = await openRedis(kind);
    const now = () => 1_763_700_000_000;
    return {
      repository: new RedisOidcSessionRepository(redis.client, { keyPrefix: redis.keyPrefix, now }),
      close: () => redis.close(),
      now,
    };
  });

  describeOidcLogoutEventStoreContract(`Redis (${kind})`, async () => {
    const redis = await openRedis(kind);
    return {
      store: RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: redis.keyPrefix }),
      close: () => redis.close(),
    };
  });

  describeOidcLogoutEventStoreContract(`Redis (${kind}) with an injected clock`, async () => {
    const redis = await openRedis(kind);
    const now = () => 1_763_700_000_000;
    return {
      store: new RedisOidcLogoutEventStore(redis.client, { keyPrefix: redis.keyPrefix, now }),
      close: () => redis.close(),
      now,
    };
  });
});
