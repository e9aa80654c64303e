import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { logoutEventCalls } from '../../test/repository/logout-event-calls';
import { LogoutEventStoreFullError } from './bounded-logout-event-store';
import {
  DEFAULT_LOGOUT_EVENT_MAX_ENTRIES,
  InMemoryOidcLogoutEventStore,
} from './in-memory-oidc-logout-event.store';

const T0 = 1_763_700_000_000;
const MINUTE = 60_000;

/** A fresh store, through the calls of 0.1.0's per-process defaults (same meaning). */
const calls = () => logoutEventCalls(new InMemoryOidcLogoutEventStore());

describe('InMemoryOidcLogoutEventStore (per process)', () => {
  let warn: MockInstance<Logger['warn']>;
  const at = (offset: number) => new Date(T0 + offset);

  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(T0);
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
  });

  it('claims, completes and keeps tombstones', async () => {
    const repository = calls();
    expect(await repository.findLogoutTombstones(['sid:a'])).toEqual(new Map());
    expect(await repository.removeExpired(at(0))).toBe(0);
    expect(await repository.claimLogoutEvent('bcl:jti-1', at(MINUTE))).toBe(true);
    expect(await repository.claimLogoutEvent('bcl:jti-1', at(MINUTE))).toBe(true);
    await repository.completeLogoutEvent('bcl:jti-1');
    expect(await repository.claimLogoutEvent('bcl:jti-1', at(MINUTE))).toBe(false);
    expect(await repository.claimLogoutEvent('bcl:jti-2', at(MINUTE))).toBe(true);
    await repository.saveLogoutTombstone('sid:a', 200, at(MINUTE));
    await repository.saveLogoutTombstone('sid:a', 100, at(2 * MINUTE));
    expect(await repository.findLogoutTombstones(['sid:a', 'sid:b'])).toEqual(
      new Map([['sid:a', 200]]),
    );
  });

  it('keeps one store per instance', async () => {
    const first = calls();
    const second = calls();
    expect(await first.claimLogoutEvent('bcl:jti', at(MINUTE))).toBe(true);
    expect(await second.claimLogoutEvent('bcl:jti', at(MINUTE))).toBe(true);
    await first.saveLogoutTombstone('sid:a', 1, at(MINUTE));
    expect(await second.findLogoutTombstones(['sid:a'])).toEqual(new Map());
  });

  it('follows the clock: a claim expires at expiresAt, then can be claimed again', async () => {
    const repository = calls();
    expect(await repository.claimLogoutEvent('bcl:jti', at(MINUTE))).toBe(true);
    await repository.completeLogoutEvent('bcl:jti');
    vi.setSystemTime(T0 + MINUTE - 1);
    expect(await repository.claimLogoutEvent('bcl:jti', at(2 * MINUTE))).toBe(false);
    vi.setSystemTime(T0 + MINUTE);
    // Expired: taken over, claimed (not applied) again.
    expect(await repository.claimLogoutEvent('bcl:jti', at(2 * MINUTE))).toBe(true);
    expect(await repository.claimLogoutEvent('bcl:jti', at(2 * MINUTE))).toBe(true);
    await repository.completeLogoutEvent('bcl:jti');
    expect(await repository.claimLogoutEvent('bcl:jti', at(2 * MINUTE))).toBe(false);
    // A completion of an expired claim changes nothing.
    vi.setSystemTime(T0 + 2 * MINUTE);
    await repository.completeLogoutEvent('bcl:jti');
    expect(await repository.claimLogoutEvent('bcl:jti', at(3 * MINUTE))).toBe(true);
  });

  it('tombstones: the larger issuedAt and the later expiry of a live one; an expired one is replaced', async () => {
    const repository = calls();
    await repository.saveLogoutTombstone('sid:a', 500, at(MINUTE));
    await repository.saveLogoutTombstone('sid:a', 100, at(3 * MINUTE));
    vi.setSystemTime(T0 + 2 * MINUTE);
    expect(await repository.findLogoutTombstones(['sid:a'])).toEqual(new Map([['sid:a', 500]]));
    vi.setSystemTime(T0 + 3 * MINUTE);
    expect(await repository.findLogoutTombstones(['sid:a'])).toEqual(new Map());
    await repository.saveLogoutTombstone('sid:a', 100, at(4 * MINUTE));
    expect(await repository.findLogoutTombstones(['sid:a'])).toEqual(new Map([['sid:a', 100]]));
  });

  it('removeExpired deletes and counts the expired events only', async () => {
    const repository = calls();
    await repository.claimLogoutEvent('bcl:old', at(MINUTE));
    await repository.saveLogoutTombstone('sid:old', 1, at(MINUTE));
    await repository.claimLogoutEvent('bcl:live', at(2 * MINUTE));
    await repository.completeLogoutEvent('bcl:live');
    await repository.saveLogoutTombstone('sid:live', 2, at(2 * MINUTE));
    expect(await repository.removeExpired(at(MINUTE - 1))).toBe(0);
    expect(await repository.removeExpired(at(MINUTE))).toBe(2);
    expect(await repository.removeExpired(at(MINUTE))).toBe(0);
    expect(await repository.claimLogoutEvent('bcl:live', at(3 * MINUTE))).toBe(false);
    expect(await repository.findLogoutTombstones(['sid:live'])).toEqual(new Map([['sid:live', 2]]));
  });

  it(`is bounded to ${DEFAULT_LOGOUT_EVENT_MAX_ENTRIES} entries: full of live ones, it refuses a new one rather than forget one, and says why`, async () => {
    expect(DEFAULT_LOGOUT_EVENT_MAX_ENTRIES).toBe(10_000);
    const repository = calls();
    for (let i = 0; i < DEFAULT_LOGOUT_EVENT_MAX_ENTRIES; i++) {
      expect(await repository.claimLogoutEvent(`bcl:${i}`, at(MINUTE))).toBe(true);
      await repository.completeLogoutEvent(`bcl:${i}`);
    }
    expect(warn).not.toHaveBeenCalled();
    await expect(repository.saveLogoutTombstone('sid:new', 7, at(MINUTE))).rejects.toThrow(
      LogoutEventStoreFullError,
    );
    await expect(repository.claimLogoutEvent('bcl:new', at(MINUTE))).rejects.toThrow(
      LogoutEventStoreFullError,
    );
    // Nothing was forgotten: every claim is still applied, and nothing new was stored.
    for (let i = 0; i < DEFAULT_LOGOUT_EVENT_MAX_ENTRIES; i++) {
      expect(await repository.claimLogoutEvent(`bcl:${i}`, at(MINUTE))).toBe(false);
    }
    expect(await repository.findLogoutTombstones(['sid:new'])).toEqual(new Map());
    // Logged once a minute at most, without a key.
    expect(warn).toHaveBeenCalledTimes(1);
    const [message] = warn.mock.calls[0]!;
    expect(message).toMatch(/The in-memory OIDC logout-event store/);
    expect(message).toMatch(/maxEntries 10000/);
    expect(message).toMatch(/refusing new ones/);
    expect(message).not.toMatch(/bcl:|sid:/);
    // Once entries expire, there is room again.
    vi.setSystemTime(T0 + MINUTE);
    expect(await repository.claimLogoutEvent('bcl:new', at(2 * MINUTE))).toBe(true);
  });

  it('makes room of expired entries only, without warning', async () => {
    const repository = calls();
    for (let i = 0; i < DEFAULT_LOGOUT_EVENT_MAX_ENTRIES; i++) {
      await repository.claimLogoutEvent(`bcl:${i}`, at(i % 2 === 0 ? MINUTE : 2 * MINUTE));
      await repository.completeLogoutEvent(`bcl:${i}`);
    }
    vi.setSystemTime(T0 + MINUTE);
    for (let i = 0; i < DEFAULT_LOGOUT_EVENT_MAX_ENTRIES / 2; i++) {
      expect(await repository.claimLogoutEvent(`bcl:new-${i}`, at(3 * MINUTE))).toBe(true);
    }
    expect(warn).not.toHaveBeenCalled();
    // Every live odd claim is still there.
    for (let i = 1; i < DEFAULT_LOGOUT_EVENT_MAX_ENTRIES; i += 2) {
      expect(await repository.claimLogoutEvent(`bcl:${i}`, at(3 * MINUTE))).toBe(false);
    }
    // A claim still claimed is claimed again without needing room.
    expect(await repository.claimLogoutEvent('bcl:new-0', at(3 * MINUTE))).toBe(true);
  });

  it('rejects invalid arguments with a TypeError that does not quote them', async () => {
    const repository = calls();
    const long = `secret-${'k'.repeat(130)}`;
    const error = (await repository
      .claimLogoutEvent(long, at(MINUTE))
      .catch((e: unknown) => e)) as Error;
    expect(error).toBeInstanceOf(TypeError);
    expect(error.message).not.toContain('secret');
    await expect(repository.saveLogoutTombstone('sid:a', -1, at(MINUTE))).rejects.toThrow(
      TypeError,
    );
    await expect(repository.claimLogoutEvent('bcl:a', new Date(Number.NaN))).rejects.toThrow(
      TypeError,
    );
    await expect(repository.findLogoutTombstones([''])).rejects.toThrow(TypeError);
    await expect(repository.removeExpired(new Date(Number.NaN))).rejects.toThrow(TypeError);
  });
});

describe('InMemoryOidcLogoutEventStore.begin', () => {
  const at = (offset: number) => new Date(Date.now() + offset);

  it('writes the claim and the tombstone together, or neither when there is no room for both', async () => {
    vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
    const store = new InMemoryOidcLogoutEventStore({ maxEntries: 2 });
    const events = logoutEventCalls(store);
    expect(await events.claimLogoutEvent('bcl:a', at(MINUTE))).toBe(true);
    const begun = store.begin({
      claim: { key: 'bcl:b', expiresAt: at(MINUTE) },
      tombstone: { key: 'sid:b', issuedAt: 5, expiresAt: at(MINUTE) },
    });
    await expect(begun).rejects.toThrow(LogoutEventStoreFullError);
    // Neither was written: the claim is new again, the tombstone absent.
    expect(await events.findLogoutTombstones(['sid:b'])).toEqual(new Map());
    expect(store.size).toBe(1);
    vi.restoreAllMocks();
  });

  it('answers replay for an applied claim, and keeps the tombstone (the larger issuedAt)', async () => {
    const store = new InMemoryOidcLogoutEventStore();
    const event = {
      claim: { key: 'bcl:a', expiresAt: at(MINUTE) },
      tombstone: { key: 'sid:a', issuedAt: 10, expiresAt: at(MINUTE) },
    };
    expect(await store.begin(event)).toBe('apply');
    expect(await store.begin(event)).toBe('apply');
    await store.complete('bcl:a');
    expect(await store.begin({ ...event, tombstone: { ...event.tombstone, issuedAt: 5 } })).toBe(
      'replay',
    );
    expect(await store.findTombstones(['sid:a'])).toEqual(new Map([['sid:a', 10]]));
    expect(await store.begin({})).toBe('apply');
  });
});
