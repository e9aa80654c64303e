import { Logger } from '@nestjs/common';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import { CheckedSessionRepository, recordRefusal } from './checked-session-repository';
import { InMemoryOidcSessionRepository } from './in-memory-oidc-session.repository';
import { EXPIRE_ENTRIES } from '../logout-events/oidc-logout-event.store';
import { EXISTS_NOW, OidcSessionRepository } from './oidc-session.repository';

const NOW = 1_800_000_000_000;

const record = (over: Partial<OidcSessionInfo> = {}): OidcSessionInfo => ({
  clientSessionId: 'h1',
  registrationId: 'main',
  issuer: 'https://op.example',
  clientId: 'app',
  sid: 's1',
  sub: 'u1',
  idToken: 'a.b.c',
  createdAt: new Date(NOW - 1_000),
  expiresAt: new Date(NOW + 60_000),
  ...over,
});

/** A repository whose answers the test sets. */
class Scripted extends OidcSessionRepository {
  find: () => unknown = () => Promise.resolve(undefined);
  remove: () => unknown = () => Promise.resolve([]);
  save(): Promise<void> {
    return Promise.resolve();
  }
  findByClientSessionId(): Promise<OidcSessionInfo | undefined> {
    return this.find() as Promise<OidcSessionInfo | undefined>;
  }
  removeByClientSessionId(): Promise<OidcSessionInfo | undefined> {
    return Promise.resolve(undefined);
  }
  removeByLogoutToken(): Promise<OidcSessionInfo[]> {
    return this.remove() as Promise<OidcSessionInfo[]>;
  }
}

const checked = (raw: OidcSessionRepository, timeoutMs = 1_000) =>
  new CheckedSessionRepository(raw, { timeoutMs, now: () => NOW });

const criteria: OidcLogoutCriteria = { issuer: 'https://op.example', clientId: 'app', sid: 's1' };

describe('CheckedSessionRepository', () => {
  let errors: unknown[];
  beforeEach(() => {
    errors = [];
    vi.spyOn(Logger.prototype, 'error').mockImplementation((message: unknown) => {
      errors.push(message);
    });
  });
  afterEach(() => vi.restoreAllMocks());

  it('passes a well-formed live record of the id asked', async () => {
    const raw = new Scripted();
    raw.find = () => Promise.resolve(record());
    const store = checked(raw);
    expect(await store.findByClientSessionId('h1')).toEqual(record());
    expect(await store.existsByClientSessionId('h1')).toBe(true);
    expect(errors).toEqual([]);
  });

  it.each([
    ['null', null],
    ['a record of another id', record({ clientSessionId: 'h2' })],
    ['an expired record', record({ expiresAt: new Date(NOW) })],
    ['dates as strings', JSON.parse(JSON.stringify(record())) as unknown],
    ['an invalid Date', record({ expiresAt: new Date(Number.NaN) })],
    ['a sid that is not a string', { ...record(), sid: null }],
    ['a number', 1],
    ['an array', [record()]],
  ])('a lookup answering %s: not active, logged once without ids', async (_name, answer) => {
    const raw = new Scripted();
    raw.find = () => Promise.resolve(answer);
    const store = checked(raw);
    expect(await store.findByClientSessionId('h1')).toBeUndefined();
    // The contract's default existence check asked the unchecked lookup: now the checked one.
    expect(await store.existsByClientSessionId('h1')).toBe(false);
    expect(errors).toHaveLength(1);
    expect(JSON.stringify(errors)).not.toContain('h1');
    expect(JSON.stringify(errors)).toContain('oidc_store_malformed_answer');
  });

  it('an existence check is live only for exactly true; a synchronous boolean stays synchronous', async () => {
    const raw = new InMemoryOidcSessionRepository({ now: () => NOW });
    await raw.save(record());
    const store = checked(raw);
    expect(store.existsByClientSessionId('h1')).toBe(true);
    expect(store.existsByClientSessionId('h2')).toBe(false);
    // The in-memory store's internal fast path, checked as any answer.
    const fastPath = raw as unknown as Record<typeof EXISTS_NOW, (id: string) => unknown>;
    for (const answer of [1, 'true', null, {}, Promise.resolve(1)]) {
      fastPath[EXISTS_NOW] = () => answer;
      expect(await store.existsByClientSessionId('h1')).toBe(false);
    }
  });

  it('a subclass of the in-memory store that overrides existsByClientSessionId is asked through its override, not the fast path', async () => {
    class Stricter extends InMemoryOidcSessionRepository {
      asked = 0;
      override existsByClientSessionId(): Promise<boolean> {
        this.asked++;
        return Promise.resolve(false);
      }
    }
    const raw = new Stricter({ now: () => NOW });
    await raw.save(record());
    const store = checked(raw);
    expect(await store.existsByClientSessionId('h1')).toBe(false);
    expect(raw.asked).toBe(1);
    // A subclass that keeps the library's method keeps the fast path.
    class Labelled extends InMemoryOidcSessionRepository {}
    const plain = new Labelled({ now: () => NOW });
    await plain.save(record());
    expect(checked(plain).existsByClientSessionId('h1')).toBe(true);
  });

  it("a custom store's own existence check is asked, and live only for exactly true", async () => {
    const raw = new Scripted();
    const answers: unknown[] = [true, 1, 'true', null];
    raw.existsByClientSessionId = () => Promise.resolve(answers.shift() as boolean);
    const store = checked(raw);
    expect(await store.existsByClientSessionId('h1')).toBe(true);
    for (let i = 0; i < 3; i++) expect(await store.existsByClientSessionId('h1')).toBe(false);
  });

  it.each([
    ['answers after the timeout', 'late', true],
    ['answers in time', 'in time', false],
    ['fails after the timeout (it may have committed all the same)', 'late failure', true],
  ] as const)(
    'a save that %s: the late-save listeners are told of every save that answered after being reported failed',
    async (_name, answer, told) => {
      vi.useFakeTimers();
      try {
        const raw = new Scripted();
        let settle!: () => void;
        raw.save = () =>
          new Promise<void>((resolve, reject) => {
            settle = answer === 'late failure' ? () => reject(new Error('down')) : resolve;
          });
        const store = checked(raw, 300);
        const heard: OidcSessionInfo[] = [];
        store.onLateSave((info) => heard.push(info));
        const saved = store.save(record()).then(
          () => 'saved',
          (error: { code?: string }) => error.code,
        );
        if (answer === 'in time') settle();
        await vi.advanceTimersByTimeAsync(300);
        expect(await saved).toBe(answer === 'in time' ? 'saved' : 'ERR_REPOSITORY_UNAVAILABLE');
        if (answer !== 'in time') settle();
        await vi.advanceTimersByTimeAsync(0);
        expect(heard).toEqual(told ? [record()] : []);
      } finally {
        vi.useRealTimers();
      }
    },
  );

  it('a store that does not answer: rejects ERR_REPOSITORY_UNAVAILABLE after timeoutMs', async () => {
    vi.useFakeTimers();
    try {
      const raw = new Scripted();
      raw.find = () => new Promise(() => undefined);
      const store = checked(raw, 300);
      const answer = store.existsByClientSessionId('h1') as Promise<boolean>;
      const settled = answer.catch((error: unknown) => error);
      await vi.advanceTimersByTimeAsync(299);
      let done = false;
      void settled.then(() => (done = true));
      await Promise.resolve();
      expect(done).toBe(false);
      await vi.advanceTimersByTimeAsync(1);
      expect(await settled).toMatchObject({ code: 'ERR_REPOSITORY_UNAVAILABLE' });
    } finally {
      vi.useRealTimers();
    }
  });

  it('a throw or a rejection of the store is a store error', async () => {
    const raw = new Scripted();
    raw.find = () => {
      throw new Error('down');
    };
    await expect(checked(raw).findByClientSessionId('h1')).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
    raw.find = () => Promise.reject(new Error('down'));
    await expect(checked(raw).findByClientSessionId('h1')).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it.each([
    ['undefined', undefined],
    ['null', null],
    ['an object', {}],
    ['a malformed record', [{ clientSessionId: 'h1' }]],
    ['a record the logout does not name', [record({ sid: 's2' })]],
    ['a record of another client', [record({ clientId: 'other' })]],
  ])('a removal answering %s is a store failure (the logout is kept)', async (_name, answer) => {
    const raw = new Scripted();
    raw.remove = () => Promise.resolve(answer);
    await expect(checked(raw).removeByLogoutToken(criteria)).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it("the library's own arguments are checked before the store is asked: a TypeError, not a store failure", async () => {
    const raw = new Scripted();
    const asked: string[] = [];
    raw.remove = () => {
      asked.push('removeByLogoutToken');
      return Promise.resolve([]);
    };
    await expect(
      checked(raw).removeByLogoutToken({ issuer: 'https://op.example', clientId: 'app' }),
    ).rejects.toBeInstanceOf(TypeError);
    expect(asked).toEqual([]);
    // What the store itself throws, whatever its class, is the store's failure.
    raw.remove = () => Promise.reject(new TypeError('fetch failed'));
    await expect(checked(raw).removeByLogoutToken(criteria)).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it('a removal answering the records it removed passes them on', async () => {
    const raw = new Scripted();
    raw.remove = () => Promise.resolve([record()]);
    expect(await checked(raw).removeByLogoutToken(criteria)).toEqual([record()]);
  });

  it('a repository object that does not extend the contract asks its lookup for existence', async () => {
    const inner = new InMemoryOidcSessionRepository({ now: () => NOW });
    const duck = {
      save: (info: OidcSessionInfo) => inner.save(info),
      findByClientSessionId: (id: string) => inner.findByClientSessionId(id),
      removeByClientSessionId: (id: string) => inner.removeByClientSessionId(id),
      removeByLogoutToken: (c: OidcLogoutCriteria) => inner.removeByLogoutToken(c),
    } as unknown as OidcSessionRepository;
    const store = checked(duck);
    expect(await store.existsByClientSessionId('h1')).toBe(false);
    await store.save(record());
    expect(await store.existsByClientSessionId('h1')).toBe(true);
    // A custom store expires its own records: the cleanup asks it nothing.
    expect(await store.expireEntries(new Date(NOW + 120_000))).toBe(0);
    expect(await store.existsByClientSessionId('h1')).toBe(true);
  });

  it("expires the library's own stores' records through their internal hook, checked", async () => {
    const raw = new InMemoryOidcSessionRepository({ now: () => NOW });
    await raw.save(record());
    const store = checked(raw);
    expect(await store.expireEntries(new Date(NOW + 60_000))).toBe(1);
    await expect(store.expireEntries(new Date(Number.NaN))).rejects.toBeInstanceOf(TypeError);
    (raw as unknown as Record<typeof EXPIRE_ENTRIES, () => unknown>)[EXPIRE_ENTRIES] = () =>
      Promise.resolve('many');
    await expect(store.expireEntries(new Date(NOW))).rejects.toMatchObject({
      code: 'ERR_REPOSITORY_UNAVAILABLE',
    });
  });

  it('recordRefusal names what is wrong, never a value', () => {
    expect(recordRefusal(record(), 'h1')).toBeUndefined();
    expect(recordRefusal(record(), 'h2')).toBe('a record of another session id');
    expect(recordRefusal({ ...record(), sub: 7 })).toBe('a record whose sub is not a string');
  });
});
