/**
 * Entries in Redis that the library did not write whole (a hand edit, another tool, a partial
 * restore) must never let a session or a login through: a record without its issuer is not active
 * (the logout scripts take it for gone, so no logout could end it), and a live tombstone whose
 * `iat` or expiry cannot be read fails the lookup (the login fails closed) instead of reading as
 * no tombstone.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisOidcLogoutEventStore, RedisOidcSessionRepository } from '../../lib/redis';
import { redisCommands } from '../../lib/redis/redis-client';
import { announceRedis, openRedis, REDIS_CLIENT_KINDS, type TestRedis } from '../fixtures/redis';

const enabled = announceRedis('Redis damaged-entries e2e');
const HOUR = 3_600_000;

describe.skipIf(!enabled).each(REDIS_CLIENT_KINDS)('damaged Redis entries (%s)', (kind) => {
  let redis: TestRedis;
  let hset: (key: string, ...fieldsAndValues: string[]) => Promise<unknown>;

  beforeEach(async () => {
    redis = await openRedis(kind);
    const commands = redisCommands(redis.client);
    hset = (key, ...rest) => commands.send(['HSET', `{${redis.keyPrefix}}:${key}`, ...rest]);
  });

  afterEach(async () => {
    await redis.close();
  });

  it('a record with a live expiry but no issuer is not active', async () => {
    const repository = RedisOidcSessionRepository.with(redis.client, {
      keyPrefix: redis.keyPrefix,
    });
    await hset('r:damaged', 'exp', String(Date.now() + HOUR));
    expect(await repository.existsByClientSessionId('damaged')).toBe(false);
    expect(await repository.findByClientSessionId('damaged')).toBeUndefined();
    // The same with its issuer is (the check reads what it should).
    await hset('r:damaged', 'iss', 'https://op.example.com', 'cid', 'app', 'reg', 'main');
    expect(await repository.existsByClientSessionId('damaged')).toBe(true);
  });

  it.each([
    ['no iat', ['exp', String(Date.now() + HOUR)]],
    ['an iat that is no number', ['iat', 'soon', 'exp', String(Date.now() + HOUR)]],
    ['an expiry that is no number', ['iat', '1763700000', 'exp', 'later']],
  ])('a tombstone with %s fails the lookup, and a whole one is read', async (_name, fields) => {
    const events = RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: redis.keyPrefix });
    await hset('e:t:bad', ...fields);
    await hset('e:t:good', 'iat', '1763700000', 'exp', String(Date.now() + HOUR));
    await expect(events.findTombstones(['good', 'bad'])).rejects.toThrow();
    expect(await events.findTombstones(['good'])).toEqual(new Map([['good', 1_763_700_000]]));
  });
});
