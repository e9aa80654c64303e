import { describe, expect, it } from 'vitest';
import { RedisOidcLogoutEventStore } from './redis-oidc-logout-event.store';

/** A store whose Redis answers every script with `reply`. */
const answering = (reply: unknown) =>
  RedisOidcLogoutEventStore.with({ call: () => Promise.resolve(reply) });

describe('RedisOidcLogoutEventStore: what Redis answers a tombstone lookup', () => {
  it('reads issuedAt of a live tombstone, and nil as none', async () => {
    expect(await answering(['1763700000', null]).findTombstones(['a', 'b'])).toEqual(
      new Map([['a', 1_763_700_000]]),
    );
  });

  // A tombstone read as absent lets a login issued before its logout through: anything but a
  // whole answer rejects, and the login fails closed.
  it.each([
    ['a value that is not an integer', ['soon', null]],
    ['a negative value', ['-1', null]],
    ['fewer values than keys', ['1']],
    ['more values than keys', ['1', null, '2']],
    ['no array', 'OK'],
  ])('rejects %s', async (_name, reply) => {
    await expect(answering(reply).findTombstones(['a', 'b'])).rejects.toThrow(TypeError);
  });
});
