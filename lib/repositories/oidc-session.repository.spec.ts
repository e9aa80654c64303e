import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import {
  assertLogoutEventMethodsPaired,
  DEFAULT_LOGOUT_EVENT_MAX_ENTRIES,
  LogoutEventStoreFullError,
  OidcSessionRepository,
} from './oidc-session.repository';

const T0 = 1_763_700_000_000;
const MINUTE = 60_000;

/** A user-supplied repository written before the logout-event methods existed. */
class MinimalRepository extends OidcSessionRepository {
  save(_info: OidcSessionInfo): Promise<void> {
    return Promise.resolve();
  }
  findByClientSessionId(_id: string): Promise<OidcSessionInfo | undefined> {
    return Promise.resolve(undefined);
  }
  removeByClientSessionId(_id: string): Promise<OidcSessionInfo | undefined> {
    return Promise.resolve(undefined);
  }
  removeByLogoutToken(_criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    return Promise.resolve([]);
  }
}

describe('OidcSessionRepository defaults for logout events (per process)', () => {
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

  it('a subclass implementing only the four abstract methods gets working defaults', async () => {
    const repository = new MinimalRepository();
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

  it('the public shape stays methods only: no state on the instance', async () => {
    const repository = new MinimalRepository();
    await repository.claimLogoutEvent('bcl:jti', at(MINUTE));
    await repository.saveLogoutTombstone('sid:a', 1, at(MINUTE));
    expect(Object.keys(repository)).toEqual([]);
  });

  it('keeps one store per repository instance', async () => {
    const first = new MinimalRepository();
    const second = new MinimalRepository();
    expect(await first.claimLogoutEvent('bcl:jti', at(MINUTE))).toBe(true);
    expect(await second.claimLogoutEvent('bcl:jti', at(MINUTE))).toBe(true);
    await first.saveLogoutTombstone('sid:a', 1, at(MINUTE));
    expect(await second.findLogoutTombstones(['sid:a'])).toEqual(new Map());
  });

  it('follows the clock: a claim expires at expiresAt, then can be claimed again', async () => {
    const repository = new MinimalRepository();
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
    const repository = new MinimalRepository();
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
    const repository = new MinimalRepository();
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
    const repository = new MinimalRepository();
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
    expect(message).toMatch(/MinimalRepository: the default per-process logout-event store/);
    expect(message).toMatch(/maxEntries 10000/);
    expect(message).toMatch(/refusing new ones/);
    expect(message).not.toMatch(/bcl:|sid:/);
    // Once entries expire, there is room again.
    vi.setSystemTime(T0 + MINUTE);
    expect(await repository.claimLogoutEvent('bcl:new', at(2 * MINUTE))).toBe(true);
  });

  it('makes room of expired entries only, without warning', async () => {
    const repository = new MinimalRepository();
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
    const repository = new MinimalRepository();
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

describe('assertLogoutEventMethodsPaired', () => {
  it('accepts both steps of a claim overridden, or neither; refuses one alone, naming both', () => {
    class Both extends MinimalRepository {
      override claimLogoutEvent(): Promise<boolean> {
        return Promise.resolve(true);
      }
      override completeLogoutEvent(): Promise<void> {
        return Promise.resolve();
      }
    }
    class ClaimOnly extends MinimalRepository {
      override claimLogoutEvent(): Promise<boolean> {
        return Promise.resolve(true);
      }
    }
    class CompleteOnly extends MinimalRepository {
      override completeLogoutEvent(): Promise<void> {
        return Promise.resolve();
      }
    }
    expect(() => assertLogoutEventMethodsPaired(new MinimalRepository())).not.toThrow();
    expect(() => assertLogoutEventMethodsPaired(new Both())).not.toThrow();
    expect(() => assertLogoutEventMethodsPaired(new ClaimOnly())).toThrow(
      'The session repository ClaimOnly overrides claimLogoutEvent but not completeLogoutEvent',
    );
    expect(() => assertLogoutEventMethodsPaired(new CompleteOnly())).toThrow(
      'The session repository CompleteOnly overrides completeLogoutEvent but not claimLogoutEvent',
    );
  });
});

describe('OidcSessionRepository.existsByClientSessionId default', () => {
  class FindOnlyRepository extends MinimalRepository {
    readonly asked: string[] = [];
    constructor(private readonly find: (id: string) => Promise<OidcSessionInfo | undefined>) {
      super();
    }
    override findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
      this.asked.push(id);
      return this.find(id);
    }
  }

  const info = { clientSessionId: 'a' } as OidcSessionInfo;

  it('asks findByClientSessionId, and answers with a promise', async () => {
    const repository = new FindOnlyRepository((id) =>
      Promise.resolve(id === 'a' ? info : undefined),
    );
    const answer = repository.existsByClientSessionId('a');
    expect(answer).toBeInstanceOf(Promise);
    expect(await answer).toBe(true);
    expect(await repository.existsByClientSessionId('b')).toBe(false);
    expect(repository.asked).toEqual(['a', 'b']);
  });

  it('rejects with the error findByClientSessionId rejects with (never false)', async () => {
    const failure = new Error('connection lost');
    const repository = new FindOnlyRepository(() => Promise.reject(failure));
    await expect(repository.existsByClientSessionId('a')).rejects.toBe(failure);
  });
});
