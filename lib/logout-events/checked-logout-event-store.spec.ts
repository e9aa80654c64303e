import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CheckedLogoutEventStore } from './checked-logout-event-store';
import { InMemoryOidcLogoutEventStore } from './in-memory-oidc-logout-event.store';
import {
  OidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from './oidc-logout-event.store';

const NOW = 1_800_000_000_000;

/** An event store whose answers the test sets. */
class Scripted extends OidcLogoutEventStore {
  asked: string[] = [];
  beginAnswer: () => unknown = () => Promise.resolve('apply');
  completeAnswer: () => unknown = () => Promise.resolve();
  tombstones: () => unknown = () => Promise.resolve(new Map());
  begin(): Promise<OidcLogoutEventOutcome> {
    this.asked.push('begin');
    return this.beginAnswer() as Promise<OidcLogoutEventOutcome>;
  }
  complete(): Promise<void> {
    this.asked.push('complete');
    return this.completeAnswer() as Promise<void>;
  }
  findTombstones(): Promise<Map<string, number>> {
    this.asked.push('findTombstones');
    return this.tombstones() as Promise<Map<string, number>>;
  }
}

const checked = (raw: OidcLogoutEventStore, timeoutMs = 1_000) =>
  new CheckedLogoutEventStore(raw, { timeoutMs, now: () => NOW });
const claim = (key = 'k'): OidcLogoutEventBegin => ({
  claim: { key, expiresAt: new Date(NOW + 60_000) },
});

describe('CheckedLogoutEventStore', () => {
  beforeEach(() => {
    vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
  });
  afterEach(() => vi.restoreAllMocks());

  it("the library's own arguments are checked before the store is asked: a TypeError, not a store failure", async () => {
    const raw = new Scripted();
    const store = checked(raw);
    const bad: unknown[] = [
      { tombstone: { key: 'k', issuedAt: 1.5, expiresAt: new Date(NOW + 1) } },
      { claim: { key: '', expiresAt: new Date(NOW + 1) } },
      { claim: { key: 'k', expiresAt: new Date(Number.NaN) } },
      null,
    ];
    for (const event of bad) {
      await expect(store.begin(event as OidcLogoutEventBegin)).rejects.toBeInstanceOf(TypeError);
    }
    await expect(store.complete('k'.repeat(129))).rejects.toBeInstanceOf(TypeError);
    await expect(store.findTombstones(['k', ''])).rejects.toBeInstanceOf(TypeError);
    expect(raw.asked).toEqual([]);
    // What the store itself throws, whatever its class, is the store's failure.
    raw.beginAnswer = () => Promise.reject(new TypeError('fetch failed'));
    await expect(store.begin(claim())).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it.each([true, false, 'yes', undefined, null])(
    'a begin answering %j (neither apply nor replay) is a store failure',
    async (answer) => {
      const raw = new Scripted();
      raw.beginAnswer = () => Promise.resolve(answer);
      await expect(checked(raw).begin(claim())).rejects.toMatchObject({
        code: 'ERR_REPOSITORY_UNAVAILABLE',
      });
    },
  );

  it('passes apply and replay on; a completion that hangs is a store failure', async () => {
    const raw = new Scripted();
    raw.beginAnswer = () => Promise.resolve('replay');
    expect(await checked(raw).begin(claim())).toBe('replay');
    raw.completeAnswer = () => new Promise<void>(() => undefined);
    await expect(checked(raw, 20).complete('k')).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it.each([
    ['not a Map', () => ({ k: 1 })],
    ['a key that was not asked', () => new Map([['other', 1]])],
    ['an issuedAt that is not a number', () => new Map([['k', '1']])],
  ])('tombstones answering %s are a store failure', async (_name, answer) => {
    const raw = new Scripted();
    raw.tombstones = () => Promise.resolve(answer());
    await expect(checked(raw).findTombstones(['k'])).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it("expires the in-memory store's entries through its internal hook; a custom store's not at all", async () => {
    let now = NOW;
    const memory = new InMemoryOidcLogoutEventStore({ now: () => now });
    const store = checked(memory);
    expect(await store.begin(claim())).toBe('apply');
    now += 120_000;
    expect(await store.expireEntries(new Date(now))).toBe(1);
    const custom = new Scripted();
    expect(await checked(custom).expireEntries(new Date(now))).toBe(0);
    expect(custom.asked).toEqual([]);
  });
});
