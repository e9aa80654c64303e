import { describe, expect, it } from 'vitest';
import { redisKeyBase, RedisEventKeys, RedisSessionKeys } from './redis-keys';

describe('Redis key layout', () => {
  it('puts every key under the prefix as a hash tag', () => {
    expect(redisKeyBase()).toBe('{oidc-logout}:');
    const base = redisKeyBase('app');
    const sessions = new RedisSessionKeys(base);
    const events = new RedisEventKeys(base);
    const keys = [
      sessions.record('id'),
      sessions.bySid('https://op', 'client', 'sha256:x'),
      sessions.bySub('https://op', 'client', 'user'),
      sessions.expiries,
      events.claim('k'),
      events.tombstone('k'),
      events.expiries,
    ];
    for (const key of keys) expect(key.startsWith('{app}:')).toBe(true);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it('names records and entries as the scripts build them from an expiry index: its name without x:s or x:e, then r: or e:', () => {
    const base = redisKeyBase('app');
    const sessions = new RedisSessionKeys(base);
    const events = new RedisEventKeys(base);
    expect(sessions.expiries.slice(0, -3) + 'r:id').toBe(sessions.record('id'));
    expect(events.expiries.slice(0, -3) + 'e:t:k').toBe(events.tombstone('k'));
    expect(events.expiries.slice(0, -3) + 'e:c:k').toBe(events.claim('k'));
  });

  it('names no issuer, client, sid or sub in an index key, and tells them apart', () => {
    const keys = new RedisSessionKeys(redisKeyBase());
    const bySid = keys.bySid('https://op.example', 'client-a', 'secret-sid');
    expect(bySid).not.toMatch(/op\.example|client-a|secret-sid/);
    expect(keys.bySub('https://op.example', 'client-a', 'secret-user')).not.toMatch(/secret-user/);
    // The three values are delimited: moving a character between them is another key.
    expect(keys.bySid('https://op', 'ab', 'c')).not.toBe(keys.bySid('https://op', 'a', 'bc'));
    expect(keys.bySid('https://op', 'a', 'x')).not.toBe(keys.bySub('https://op', 'a', 'x'));
  });

  it.each([[''], ['a{b'], ['a}b'], ['x'.repeat(65)], [42], [null]])(
    'refuses the prefix %j',
    (prefix) => {
      expect(() => redisKeyBase(prefix)).toThrow(TypeError);
    },
  );
});
