import { describe, expect, it } from 'vitest';
import { SessionLookupCache } from './session-lookup-cache';

const NOW = 1_763_700_000_000;
const FAR = NOW + 3_600_000;

function connectedCache(options: ConstructorParameters<typeof SessionLookupCache>[0] = {}) {
  const cache = new SessionLookupCache(options);
  cache.setConnected(true);
  return cache;
}

describe('SessionLookupCache', () => {
  it('remembers a live session for ttlMs, then asks again', () => {
    const cache = connectedCache({ ttlMs: 1000 });
    cache.remember('a', FAR, NOW, cache.epoch);
    expect(cache.has('a', NOW + 999)).toBe(true);
    expect(cache.has('a', NOW + 1000)).toBe(false);
    expect(cache.size).toBe(0); // dropped when found stale
  });

  it("never past the session's own expiry", () => {
    const cache = connectedCache({ ttlMs: 60_000 });
    cache.remember('a', NOW + 10, NOW, cache.epoch);
    expect(cache.has('a', NOW + 9)).toBe(true);
    expect(cache.has('a', NOW + 10)).toBe(false);
    cache.remember('expired', NOW, NOW, cache.epoch);
    expect(cache.has('expired', NOW)).toBe(false);
  });

  it('remembers nothing before the feed is connected, and forgets everything when it is lost', () => {
    const cache = new SessionLookupCache();
    cache.remember('a', FAR, NOW, cache.epoch);
    expect(cache.has('a', NOW)).toBe(false);
    cache.setConnected(true);
    cache.remember('a', FAR, NOW, cache.epoch);
    expect(cache.has('a', NOW)).toBe(true);
    cache.setConnected(false);
    expect(cache.has('a', NOW)).toBe(false);
    expect(cache.connected).toBe(false);
  });

  it('forget drops the removed ids at once and keeps the others', () => {
    const cache = connectedCache();
    for (const id of ['a', 'b', 'c']) cache.remember(id, FAR, NOW, cache.epoch);
    cache.forget(['a', 'c', 'unknown']);
    expect(['a', 'b', 'c'].map((id) => cache.has(id, NOW))).toEqual([false, true, false]);
  });

  it('a lookup that began before a removal (or a reconnection) is not remembered', () => {
    const cache = connectedCache();
    const before = cache.epoch;
    cache.forget(['other']); // any removal, anywhere, while the lookup ran
    cache.remember('a', FAR, NOW, before);
    expect(cache.has('a', NOW)).toBe(false);
    const beforeReconnect = cache.epoch;
    cache.setConnected(false);
    cache.setConnected(true);
    cache.remember('a', FAR, NOW, beforeReconnect);
    expect(cache.has('a', NOW)).toBe(false);
    cache.remember('a', FAR, NOW, cache.epoch);
    expect(cache.has('a', NOW)).toBe(true);
  });

  it('holds at most maxEntries, dropping the oldest first', () => {
    const cache = connectedCache({ maxEntries: 2 });
    for (const id of ['a', 'b', 'c']) cache.remember(id, FAR, NOW, cache.epoch);
    expect(['a', 'b', 'c'].map((id) => cache.has(id, NOW))).toEqual([false, true, true]);
    cache.remember('b', FAR, NOW, cache.epoch); // refreshed: now the youngest
    cache.remember('d', FAR, NOW, cache.epoch);
    expect(['b', 'c', 'd'].map((id) => cache.has(id, NOW))).toEqual([true, false, true]);
  });

  it('refuses limits that are not positive integers', () => {
    for (const options of [{ ttlMs: 0 }, { ttlMs: 1.5 }, { maxEntries: -1 }, { maxEntries: NaN }]) {
      expect(() => new SessionLookupCache(options)).toThrow(RangeError);
    }
  });
});
