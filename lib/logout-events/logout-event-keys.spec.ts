import { describe, expect, it } from 'vitest';
import { logoutTokenKey, sidTombstoneKey, subTombstoneKey } from './logout-event-keys';

describe('logout event keys', () => {
  it('are prefixed by kind, fixed-length and free of the values they identify', () => {
    const key = sidTombstoneKey('https://op.example', 'client', 'session-42');
    expect(key).toMatch(/^sid:[A-Za-z0-9_-]{43}$/);
    expect(key).not.toContain('session-42');
    expect(subTombstoneKey('https://op.example', 'client', 'alice')).toMatch(/^sub:/);
    expect(logoutTokenKey('https://op.example', 'client', 'jti-1')).toMatch(/^jti:/);
  });

  it('differ by issuer, client and value, and between kinds', () => {
    const keys = new Set([
      sidTombstoneKey('https://a', 'c', 'x'),
      sidTombstoneKey('https://b', 'c', 'x'),
      sidTombstoneKey('https://a', 'd', 'x'),
      sidTombstoneKey('https://a', 'c', 'y'),
      subTombstoneKey('https://a', 'c', 'x'),
      logoutTokenKey('https://a', 'c', 'x'),
      logoutTokenKey('https://a', 'd', 'x'),
      logoutTokenKey('https://b', 'c', 'x'),
      logoutTokenKey('https://a', 'c', 'y'),
    ]);
    expect(keys.size).toBe(9);
  });

  it('a sid key with a sub differs from the sid alone and from another sub', () => {
    const alone = sidTombstoneKey('https://a', 'c', 's');
    const alice = sidTombstoneKey('https://a', 'c', 's', 'alice');
    expect(new Set([alone, alice, sidTombstoneKey('https://a', 'c', 's', 'bob')]).size).toBe(3);
    expect(alice).toMatch(/^sid:[A-Za-z0-9_-]{43}$/);
  });

  it('a logout token is keyed per client: one token for clients a and b is two keys', () => {
    expect(logoutTokenKey('https://a', 'a', 'jti')).not.toBe(
      logoutTokenKey('https://a', 'b', 'jti'),
    );
    expect(logoutTokenKey('https://a', 'a', 'jti')).toBe(logoutTokenKey('https://a', 'a', 'jti'));
  });

  it('cannot be confused by moving a separator between parts', () => {
    expect(sidTombstoneKey('https://a', 'bc', 'd')).not.toBe(
      sidTombstoneKey('https://a', 'b', 'cd'),
    );
  });
});
