import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { InMemoryOidcSessionRepository } from './in-memory-oidc-session.repository';
import { LogoutEventStoreFullError } from '../logout-events/bounded-logout-event-store';
import { InMemoryOidcLogoutEventStore } from '../logout-events/in-memory-oidc-logout-event.store';
import { expireEntries, logoutEventCalls } from '../../test/repository/logout-event-calls';
import { EXISTS_NOW } from './oidc-session.repository';

const T0 = 1_763_700_000_000;
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function session(id: string, overrides: Partial<OidcSessionInfo> = {}): OidcSessionInfo {
  return {
    clientSessionId: id,
    registrationId: 'main',
    issuer: 'https://op.example.com',
    clientId: 'app',
    sid: `sid-${id}`,
    sub: `sub-${id}`,
    idToken: `token-${id}`,
    expiresAt: new Date(T0 + 60 * MINUTE),
    createdAt: new Date(T0),
    ...overrides,
  };
}

describe('InMemoryOidcSessionRepository bounds', () => {
  let clock: number;
  let warn: MockInstance<Logger['warn']>;
  const now = () => clock;

  beforeEach(() => {
    clock = T0;
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  async function present(repository: InMemoryOidcSessionRepository, ids: string[]) {
    const found: string[] = [];
    for (const id of ids) if (await repository.findByClientSessionId(id)) found.push(id);
    return found;
  }

  it('rejects a maxEntries that is not a positive integer', () => {
    expect(() => new InMemoryOidcSessionRepository({ maxEntries: 0 })).toThrow(RangeError);
    expect(() => new InMemoryOidcSessionRepository({ maxEntries: 1.5 })).toThrow(RangeError);
    expect(() => new InMemoryOidcSessionRepository({ maxEntries: Number.NaN })).toThrow(RangeError);
  });

  it('defaults to 10000 entries', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    for (let i = 0; i < 10_001; i++) await repository.save(session(`s${i}`));
    expect(repository.size).toBe(10_000);
    expect(await repository.findByClientSessionId('s0')).toBeUndefined();
    expect(await repository.findByClientSessionId('s10000')).toBeDefined();
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('evicts the oldest-inserted live records first when full, and warns once', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 3, now });
    for (const id of ['a', 'b', 'c']) await repository.save(session(id));
    expect(warn).not.toHaveBeenCalled();

    await repository.save(session('d'));
    expect(await present(repository, ['a', 'b', 'c', 'd'])).toEqual(['b', 'c', 'd']);
    await repository.save(session('e'));
    expect(await present(repository, ['a', 'b', 'c', 'd', 'e'])).toEqual(['c', 'd', 'e']);
    expect(repository.size).toBe(3);

    expect(warn).toHaveBeenCalledTimes(1);
    const [message] = warn.mock.calls[0]!;
    expect(message).toMatch(/maxEntries 3/);
    for (const secret of ['a', 'b', 'sid-a', 'sub-a', 'token-a']) {
      expect(String(message)).not.toMatch(new RegExp(`\\b${secret}\\b`));
    }
  });

  it('the evicted record is gone from the sid and sub indexes too', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 2, now });
    await repository.save(session('a', { sid: 'shared', sub: 'alice' }));
    await repository.save(session('b', { sid: 'shared', sub: 'alice' }));
    await repository.save(session('c', { sid: 'other', sub: 'bob' }));
    const removed = await repository.removeByLogoutToken({
      issuer: 'https://op.example.com',
      clientId: 'app',
      sid: 'shared',
    });
    expect(removed.map((r) => r.clientSessionId)).toEqual(['b']);
    expect(
      await repository.removeByLogoutToken({
        issuer: 'https://op.example.com',
        clientId: 'app',
        sub: 'alice',
      }),
    ).toEqual([]);
    expect(repository.size).toBe(1);
  });

  it('a replaced record counts as newly inserted', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 3, now });
    for (const id of ['a', 'b', 'c']) await repository.save(session(id));
    await repository.save(session('a', { sub: 'again' }));
    expect(repository.size).toBe(3);
    expect(warn).not.toHaveBeenCalled();
    await repository.save(session('d'));
    expect(await present(repository, ['a', 'b', 'c', 'd'])).toEqual(['a', 'c', 'd']);
  });

  it('evicts expired records before any live one, without warning', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 3, now });
    await repository.save(session('old-live', { expiresAt: new Date(T0 + 60 * MINUTE) }));
    await repository.save(session('expiring-1', { expiresAt: new Date(T0 + MINUTE) }));
    await repository.save(session('expiring-2', { expiresAt: new Date(T0 + 2 * MINUTE) }));
    clock = T0 + 2 * MINUTE; // both expiring ones are now expired (expiresAt <= now)
    await repository.save(session('new'));
    expect(repository.size).toBe(2);
    expect(await present(repository, ['old-live', 'new'])).toEqual(['old-live', 'new']);
    expect(warn).not.toHaveBeenCalled();
  });

  it('honours the injected clock for TTL', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    await repository.save(session('a', { expiresAt: new Date(T0 + MINUTE) }));
    clock = T0 + MINUTE - 1;
    expect(await repository.findByClientSessionId('a')).toBeDefined();
    clock = T0 + MINUTE;
    expect(await repository.findByClientSessionId('a')).toBeUndefined();
    expect(
      await repository.removeByLogoutToken({
        issuer: 'https://op.example.com',
        clientId: 'app',
        sid: 'sid-a',
      }),
    ).toEqual([]);
    expect(repository.size).toBe(0);
  });

  it('removeExpired uses its argument, not the clock', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    await repository.save(session('a', { expiresAt: new Date(T0 + MINUTE) }));
    await repository.save(session('b', { expiresAt: new Date(T0 + 2 * MINUTE) }));
    expect(await expireEntries(repository, new Date(T0))).toBe(0);
    expect(await expireEntries(repository, new Date(T0 + MINUTE))).toBe(1);
    expect(repository.size).toBe(1);
    expect(await expireEntries(repository, new Date(T0 + 10 * MINUTE))).toBe(1);
    expect(repository.size).toBe(0);
  });

  it('warns at most once per repository, however many live records it evicts', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 1, now });
    for (let i = 0; i < 50; i++) await repository.save(session(`s${i}`));
    expect(repository.size).toBe(1);
    expect(warn).toHaveBeenCalledTimes(1);
  });

  it('rejects invalid dates', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    await expect(
      repository.save(session('a', { expiresAt: new Date(Number.NaN) })),
    ).rejects.toThrow(TypeError);
    expect(repository.size).toBe(0);
  });

  it('clear() empties the store and its indexes', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    await repository.save(session('a'));
    repository.clear();
    expect(repository.size).toBe(0);
    expect(
      await repository.removeByLogoutToken({
        issuer: 'https://op.example.com',
        clientId: 'app',
        sub: 'sub-a',
      }),
    ).toEqual([]);
  });
});

describe('InMemoryOidcSessionRepository records', () => {
  let clock: number;
  const now = () => clock;

  beforeEach(() => {
    clock = T0;
  });

  it('its internal existence check answers with a boolean at once, following the clock', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    await repository.save(session('a', { expiresAt: new Date(T0 + MINUTE) }));
    expect(repository[EXISTS_NOW]('a')).toBe(true);
    expect(repository[EXISTS_NOW]('b')).toBe(false);
    clock = T0 + MINUTE - 1;
    expect(repository[EXISTS_NOW]('a')).toBe(true);
    clock = T0 + MINUTE;
    expect(repository[EXISTS_NOW]('a')).toBe(false);
    clock = T0;
    await repository.removeByClientSessionId('a');
    expect(repository[EXISTS_NOW]('a')).toBe(false);
  });

  it('round-trips createdAt exactly, whatever the lifetime (kept as its distance to expiresAt)', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    const lifetimes = [1, 2 ** 31 - 1, 2 ** 31, 2 ** 32 + 7, 30 * 24 * 60 * MINUTE, -5, -(2 ** 40)];
    for (const [i, lifetime] of lifetimes.entries()) {
      const expiresAt = T0 + HOUR + i;
      await repository.save(
        session(`s${i}`, {
          expiresAt: new Date(expiresAt),
          createdAt: new Date(expiresAt - lifetime),
        }),
      );
    }
    // The oldest possible Date and one 1,000 years from now (275,000 years apart): still exact.
    const far = session('far', {
      createdAt: new Date(-8.64e15),
      expiresAt: new Date(T0 + 1000 * 365 * 24 * HOUR),
    });
    await repository.save(far);
    for (const [i, lifetime] of lifetimes.entries()) {
      const found = await repository.findByClientSessionId(`s${i}`);
      expect(found?.expiresAt.getTime()).toBe(T0 + HOUR + i);
      expect(found?.createdAt.getTime()).toBe(T0 + HOUR + i - lifetime);
    }
    expect(await repository.findByClientSessionId('far')).toStrictEqual(far);
  });

  it('round-trips expiresAt exactly over the whole Date range (kept as two int32 halves)', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    const instants = [8.64e15, 8.64e15 - 1, 2 ** 23, 2 ** 23 - 1, 2 ** 46 + 3, 1, 0, -1, -8.64e15];
    clock = -8.64e15 - 1;
    for (const [i, expiresAt] of instants.entries()) {
      await repository.save(
        session(`e${i}`, { expiresAt: new Date(expiresAt), createdAt: new Date(expiresAt) }),
      );
    }
    for (const [i, expiresAt] of instants.entries()) {
      expect(repository[EXISTS_NOW](`e${i}`)).toBe(true);
      const found = await repository.findByClientSessionId(`e${i}`);
      expect(found?.expiresAt.getTime()).toBe(expiresAt);
      expect(found?.createdAt.getTime()).toBe(expiresAt);
    }
    clock = 0;
    expect(await expireEntries(repository, new Date(0))).toBe(3);
    expect(repository[EXISTS_NOW]('e5')).toBe(true);
    expect(repository[EXISTS_NOW]('e6')).toBe(false);
  });

  it('records of several registrations keep their own registrationId, issuer and clientId', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    const clients = [
      { registrationId: 'main', issuer: 'https://op.example.com', clientId: 'app' },
      { registrationId: 'other', issuer: 'https://op.example.com', clientId: 'app' },
      { registrationId: 'main', issuer: 'https://other-op.example.com', clientId: 'app' },
      { registrationId: 'main', issuer: 'https://op.example.com', clientId: 'app-2' },
    ];
    for (const [i, client] of clients.entries()) {
      await repository.save(session(`a${i}`, client));
      await repository.save(session(`b${i}`, client));
    }
    for (const [i, client] of clients.entries()) {
      expect(await repository.findByClientSessionId(`a${i}`)).toStrictEqual(
        session(`a${i}`, client),
      );
    }
    // Every record of the first client gone, then one saved again: the same fields come back.
    await repository.removeByClientSessionId('a0');
    await repository.removeByLogoutToken({ ...clients[0]!, sub: 'sub-b0' });
    expect(await repository.findByClientSessionId('b0')).toBeUndefined();
    await repository.save(session('c0', clients[0]));
    expect(await repository.findByClientSessionId('c0')).toStrictEqual(session('c0', clients[0]));
    expect(await repository.removeByLogoutToken({ ...clients[1]!, sid: 'sid-b1' })).toStrictEqual([
      session('b1', clients[1]),
    ]);
  });
});

describe('InMemoryOidcLogoutEventStore beside the in-memory session repository', () => {
  let clock: number;
  let warn: MockInstance<Logger['warn']>;
  const now = () => clock;
  const at = (offset: number) => new Date(T0 + offset);

  beforeEach(() => {
    clock = T0;
    warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  });

  afterEach(() => {
    vi.restoreAllMocks();
  });

  it('are bounded by maxEntries, separately from the sessions: full of live ones, a new one is refused, none forgotten', async () => {
    const repository = new InMemoryOidcSessionRepository({ maxEntries: 3, now });
    const events = logoutEventCalls(new InMemoryOidcLogoutEventStore({ maxEntries: 3, now }));
    for (const id of ['a', 'b', 'c']) await repository.save(session(id));
    for (const key of ['k1', 'k2', 'k3']) {
      expect(await events.claimLogoutEvent(key, at(MINUTE))).toBe(true);
      await events.completeLogoutEvent(key);
    }
    expect(repository.size).toBe(3);
    expect(warn).not.toHaveBeenCalled();
    await expect(events.saveLogoutTombstone('t1', 5, at(MINUTE))).rejects.toThrow(
      LogoutEventStoreFullError,
    );
    await expect(events.claimLogoutEvent('k4', at(MINUTE))).rejects.toThrow(
      LogoutEventStoreFullError,
    );
    // No claim was forgotten (a replay of any is still recognised), no session was touched.
    for (const key of ['k1', 'k2', 'k3']) {
      expect(await events.claimLogoutEvent(key, at(MINUTE))).toBe(false);
    }
    expect(await events.findLogoutTombstones(['t1'])).toEqual(new Map());
    expect(repository.size).toBe(3);
    expect(await repository.findByClientSessionId('a')).toBeDefined();
    expect(warn).toHaveBeenCalledTimes(1);
    const [message] = warn.mock.calls[0]!;
    expect(message).toMatch(/logout-event store is full of live logout events \(maxEntries 3\)/);
    expect(message).not.toMatch(/\bk[14]\b|\bt1\b/);
  });

  it('drop expired events to make room, without warning', async () => {
    const events = logoutEventCalls(new InMemoryOidcLogoutEventStore({ maxEntries: 3, now }));
    await events.claimLogoutEvent('live', at(10 * MINUTE));
    await events.completeLogoutEvent('live');
    await events.claimLogoutEvent('soon-1', at(MINUTE));
    await events.saveLogoutTombstone('soon-2', 1, at(MINUTE));
    clock = T0 + MINUTE;
    await events.claimLogoutEvent('new-1', at(10 * MINUTE));
    await events.completeLogoutEvent('new-1');
    await events.claimLogoutEvent('new-2', at(10 * MINUTE));
    expect(warn).not.toHaveBeenCalled();
    expect(await events.claimLogoutEvent('live', at(10 * MINUTE))).toBe(false);
    expect(await events.claimLogoutEvent('new-1', at(10 * MINUTE))).toBe(false);
    // Claimed, not applied: still to apply.
    expect(await events.claimLogoutEvent('new-2', at(10 * MINUTE))).toBe(true);
  });

  it('follow the injected clock', async () => {
    const store = new InMemoryOidcLogoutEventStore({ now });
    const events = logoutEventCalls(store);
    await events.claimLogoutEvent('jti', at(MINUTE));
    await events.completeLogoutEvent('jti');
    await events.saveLogoutTombstone('sid', 9, at(MINUTE));
    clock = T0 + MINUTE - 1;
    expect(await events.claimLogoutEvent('jti', at(2 * MINUTE))).toBe(false);
    expect(await events.findLogoutTombstones(['sid'])).toEqual(new Map([['sid', 9]]));
    clock = T0 + MINUTE;
    expect(await events.findLogoutTombstones(['sid'])).toEqual(new Map());
    expect(await events.claimLogoutEvent('jti', at(2 * MINUTE))).toBe(true);
  });

  it('the expiry hooks count expired sessions and events, each its own', async () => {
    const repository = new InMemoryOidcSessionRepository({ now });
    const store = new InMemoryOidcLogoutEventStore({ now });
    const events = logoutEventCalls(store);
    await repository.save(session('a', { expiresAt: at(MINUTE) }));
    await events.claimLogoutEvent('jti', at(MINUTE));
    await events.saveLogoutTombstone('sid', 1, at(MINUTE));
    await events.saveLogoutTombstone('live', 1, at(2 * MINUTE));
    expect(await expireEntries(repository, at(MINUTE))).toBe(1);
    expect(await events.removeExpired(at(MINUTE))).toBe(2);
    expect(await events.removeExpired(at(2 * MINUTE))).toBe(1);
  });

  it('clear() drops the events', async () => {
    const store = new InMemoryOidcLogoutEventStore({ now });
    const events = logoutEventCalls(store);
    await events.claimLogoutEvent('jti', at(MINUTE));
    await events.saveLogoutTombstone('sid', 1, at(MINUTE));
    store.clear();
    expect(await events.claimLogoutEvent('jti', at(MINUTE))).toBe(true);
    expect(await events.findLogoutTombstones(['sid'])).toEqual(new Map());
  });
});
