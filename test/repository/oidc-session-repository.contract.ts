import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { OidcSessionInfo } from '../../lib/interfaces/oidc-session-info.interface';
import type { OidcSessionRepository } from '../../lib/repositories/oidc-session.repository';
import type { OidcLogoutEventStore } from '../../lib/logout-events/oidc-logout-event.store';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import { expireEntries, logoutEventCalls, type LogoutEventCalls } from './logout-event-calls';

/** What a contract run needs from an implementation under test. */
export interface OidcSessionRepositoryFixture {
  repository: OidcSessionRepository;
  /** Releases everything the fixture holds (database connections, files). */
  close(): Promise<void>;
  /** The clock the repository uses, in epoch ms. Default `Date.now`. */
  now?: () => number;
}

const ISS = 'https://op.example.com/realms/main';
const OTHER_ISS = 'https://op.example.com/realms/other';
const CLIENT = 'app-a';
const OTHER_CLIENT = 'app-b';
const HOUR = 3_600_000;

/**
 * The behaviour every {@link OidcSessionRepository} must have (see its TSDoc). Run it from a spec file
 * with a factory that returns a fresh, empty repository each time:
 *
 * ```ts
 * describeOidcSessionRepositoryContract('my store', async () => ({ repository, close }));
 * ```
 */
export function describeOidcSessionRepositoryContract(
  name: string,
  factory: () => Promise<OidcSessionRepositoryFixture>,
): void {
  describe(`OidcSessionRepository contract: ${name}`, () => {
    let fixture: OidcSessionRepositoryFixture;
    let repository: OidcSessionRepository;
    let now: () => number;
    /** Every clientSessionId saved in the current test, to count what remains. */
    let saved: Set<string>;
    let counter: number;

    beforeEach(async () => {
      fixture = await factory();
      repository = fixture.repository;
      now = fixture.now ?? Date.now;
      saved = new Set();
      counter = 0;
    });

    afterEach(async () => {
      await fixture.close();
    });

    /** A live session; `overrides` wins. The id is a real session-id hash unless given. */
    function session(overrides: Partial<OidcSessionInfo> = {}): OidcSessionInfo {
      counter++;
      const t = now();
      const info: OidcSessionInfo = {
        clientSessionId: hashSessionId(`app-session-${counter}-${Math.random()}`),
        registrationId: 'main',
        issuer: ISS,
        clientId: CLIENT,
        sid: 'sid-1',
        sub: 'user-1',
        idToken: `eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyLTEifQ.sig-${counter}`,
        expiresAt: new Date(t + HOUR),
        createdAt: new Date(t - 1000),
        ...overrides,
      };
      // `sid: undefined` means "no sid": drop the key, as repositories return it.
      if (info.sid === undefined) delete info.sid;
      return info;
    }

    async function save(...infos: OidcSessionInfo[]): Promise<void> {
      for (const info of infos) {
        await repository.save(info);
        saved.add(info.clientSessionId);
      }
    }

    /**
     * The ids (among those saved in this test) still found, sorted; `existsByClientSessionId` must
     * agree with `findByClientSessionId` on each.
     */
    async function remaining(): Promise<string[]> {
      const found: string[] = [];
      for (const id of saved) {
        const live = (await repository.findByClientSessionId(id)) !== undefined;
        expect(await repository.existsByClientSessionId(id), 'existsByClientSessionId').toBe(live);
        if (live) found.push(id);
      }
      return found.sort();
    }

    const ids = (infos: readonly OidcSessionInfo[]) => infos.map((i) => i.clientSessionId).sort();
    const without = (all: readonly OidcSessionInfo[], removed: readonly OidcSessionInfo[]) =>
      ids(all.filter((info) => !removed.includes(info)));
    const byId = (infos: readonly OidcSessionInfo[]) =>
      [...infos].sort((a, b) => (a.clientSessionId < b.clientSessionId ? -1 : 1));

    describe('save and findByClientSessionId', () => {
      it('round-trips every field', async () => {
        const info = session({
          expiresAt: new Date(now() + 2 * HOUR + 123),
          createdAt: new Date(now() - 45_678),
        });
        await save(info);
        const found = await repository.findByClientSessionId(info.clientSessionId);
        expect(found).toStrictEqual(info);
        expect(found?.expiresAt).toBeInstanceOf(Date);
        expect(found?.expiresAt.getTime()).toBe(info.expiresAt.getTime());
        expect(found?.createdAt.getTime()).toBe(info.createdAt.getTime());
      });

      it('round-trips a record without sid (sid stays undefined)', async () => {
        const { sid: _sid, ...withoutSid } = session();
        await save(withoutSid);
        const found = await repository.findByClientSessionId(withoutSid.clientSessionId);
        expect(found).toStrictEqual(withoutSid);
        expect(found?.sid).toBeUndefined();
      });

      it('round-trips unicode and long values', async () => {
        const info = session({
          registrationId: 'régistration-東京',
          issuer: 'https://op.example.com/realms/ünïcødé-日本語',
          clientId: 'client-ñ-🙂',
          sid: 'sid-Ω-🔑',
          sub: 'usér-测试-😀',
          idToken: `${'eyJ'.repeat(3000)}.ü🙂`,
        });
        await save(info);
        expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
        const removed = await repository.removeByLogoutToken({
          issuer: info.issuer,
          clientId: info.clientId,
          sid: info.sid!,
          sub: info.sub,
        });
        expect(removed).toStrictEqual([info]);
        expect(await remaining()).toEqual([]);
      });

      it('returns undefined for an unknown id', async () => {
        await save(session());
        expect(await repository.findByClientSessionId(hashSessionId('unknown'))).toBeUndefined();
      });

      it('existsByClientSessionId: true for a live record; false for an unknown, expired or removed one', async () => {
        const live = session();
        const expired = session({ expiresAt: new Date(now() - 1) });
        const removed = session();
        await save(live, expired, removed);
        await repository.removeByClientSessionId(removed.clientSessionId);
        expect(await repository.existsByClientSessionId(live.clientSessionId)).toBe(true);
        expect(await repository.existsByClientSessionId(expired.clientSessionId)).toBe(false);
        expect(await repository.existsByClientSessionId(removed.clientSessionId)).toBe(false);
        expect(await repository.existsByClientSessionId(hashSessionId('unknown'))).toBe(false);
      });

      it('returns copies: mutating a result does not change the store', async () => {
        const info = session();
        await save(info);
        const found = await repository.findByClientSessionId(info.clientSessionId);
        found!.sub = 'mallory';
        found!.expiresAt.setTime(0);
        info.sub = 'changed-after-save';
        const again = await repository.findByClientSessionId(info.clientSessionId);
        expect(again?.sub).toBe('user-1');
        expect(again?.expiresAt.getTime()).toBeGreaterThan(now());
      });

      it('replaces the record saved under the same clientSessionId, indexes included', async () => {
        const first = session({ sid: 'old-sid', sub: 'old-user' });
        const second = session({
          clientSessionId: first.clientSessionId,
          registrationId: 'other',
          issuer: OTHER_ISS,
          clientId: OTHER_CLIENT,
          sid: 'new-sid',
          sub: 'new-user',
          idToken: 'new.id.token',
        });
        await save(first, second);
        expect(await repository.findByClientSessionId(first.clientSessionId)).toStrictEqual(second);
        expect(
          await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'old-sid' }),
        ).toEqual([]);
        expect(
          await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sub: 'old-user' }),
        ).toEqual([]);
        expect(await remaining()).toEqual([first.clientSessionId]);
        expect(
          await repository.removeByLogoutToken({
            issuer: OTHER_ISS,
            clientId: OTHER_CLIENT,
            sid: 'new-sid',
          }),
        ).toStrictEqual([second]);
        expect(await remaining()).toEqual([]);
      });

      it('replacing a record with one without sid drops it from the sid lookup', async () => {
        const first = session({ sid: 'sid-x' });
        const { sid: _sid, ...second } = session({ clientSessionId: first.clientSessionId });
        await save(first, second);
        expect(
          await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'sid-x' }),
        ).toEqual([]);
        expect(await remaining()).toEqual([first.clientSessionId]);
      });

      it('compares values exactly (case and trailing spaces matter)', async () => {
        const info = session({ sid: 'Sid-Case', sub: 'Alice' });
        await save(info);
        expect(
          await repository.findByClientSessionId(info.clientSessionId.toLowerCase()),
        ).toBeUndefined();
        for (const criteria of [
          { sid: 'sid-case' },
          { sid: 'Sid-Case ' },
          { sub: 'alice' },
          { sub: 'Alice ' },
          { sid: 'Sid-Case', sub: 'ALICE' },
        ]) {
          expect(
            await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, ...criteria }),
          ).toEqual([]);
        }
        expect(
          await repository.removeByLogoutToken({
            issuer: ISS.toUpperCase(),
            clientId: CLIENT,
            sub: 'Alice',
          }),
        ).toEqual([]);
        expect(
          await repository.removeByLogoutToken({
            issuer: ISS,
            clientId: CLIENT.toUpperCase(),
            sub: 'Alice',
          }),
        ).toEqual([]);
        expect(await remaining()).toEqual([info.clientSessionId]);
      });
    });

    describe('expiry', () => {
      it('never returns an expired record, and its expiry hook deletes exactly the expired ones', async () => {
        const t = now();
        const expired = [
          session({ expiresAt: new Date(t - HOUR) }),
          session({ expiresAt: new Date(t - 1) }),
          session({ expiresAt: new Date(t - 10 * HOUR), sid: 'sid-2' }),
        ];
        const live = [session({ expiresAt: new Date(t + HOUR) }), session({ sid: undefined })];
        await save(...expired, ...live);
        for (const info of expired) {
          expect(await repository.findByClientSessionId(info.clientSessionId)).toBeUndefined();
        }
        expect(await remaining()).toEqual(ids(live));
        expect(await expireEntries(repository, new Date(now()))).toBe(expired.length);
        expect(await remaining()).toEqual(ids(live));
        expect(await expireEntries(repository, new Date(now()))).toBe(0);
        for (const info of live) {
          expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
        }
      });

      it('the expiry hook includes a record expiring exactly at now, not one a ms later', async () => {
        const t = now() + HOUR;
        const atNow = session({ expiresAt: new Date(t) });
        const later = session({ expiresAt: new Date(t + 1) });
        await save(atNow, later);
        expect(await expireEntries(repository, new Date(t))).toBe(1);
        expect(await remaining()).toEqual([later.clientSessionId]);
      });

      it('removeByClientSessionId deletes an expired record but does not return it', async () => {
        const expired = session({ expiresAt: new Date(now() - 1000) });
        await save(expired);
        expect(await repository.removeByClientSessionId(expired.clientSessionId)).toBeUndefined();
        expect(await expireEntries(repository, new Date(now()))).toBe(0);
      });

      it('removeByLogoutToken deletes expired matches but returns only the live ones', async () => {
        const expired = session({ expiresAt: new Date(now() - 1000) });
        const live = session();
        await save(expired, live);
        expect(
          await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'sid-1' }),
        ).toStrictEqual([live]);
        expect(await expireEntries(repository, new Date(now()))).toBe(0);
        expect(await remaining()).toEqual([]);
      });
    });

    describe('removeByClientSessionId', () => {
      it('returns the removed record, then undefined; others stay', async () => {
        const target = session();
        const other = session();
        await save(target, other);
        expect(await repository.removeByClientSessionId(target.clientSessionId)).toStrictEqual(
          target,
        );
        expect(await repository.findByClientSessionId(target.clientSessionId)).toBeUndefined();
        expect(await repository.removeByClientSessionId(target.clientSessionId)).toBeUndefined();
        expect(await remaining()).toEqual([other.clientSessionId]);
        // It is also gone from the (issuer, sid) lookup.
        expect(
          await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'sid-1' }),
        ).toStrictEqual([other]);
      });

      it('returns undefined for an unknown id and removes nothing', async () => {
        const info = session();
        await save(info);
        expect(await repository.removeByClientSessionId(hashSessionId('nope'))).toBeUndefined();
        expect(
          await repository.removeByClientSessionId(info.clientSessionId.toUpperCase()),
        ).toBeUndefined();
        expect(await remaining()).toEqual([info.clientSessionId]);
      });
    });

    describe('removeByLogoutToken', () => {
      /** One user's OP session `sid-1` at ISS/CLIENT (two app sessions) and its neighbours. */
      let world: {
        target: OidcSessionInfo[];
        otherSidSameUser: OidcSessionInfo;
        sameSidOtherIssuer: OidcSessionInfo;
        sameSidOtherClient: OidcSessionInfo;
        noSidSameUser: OidcSessionInfo;
        otherUser: OidcSessionInfo;
        otherUserOtherIssuer: OidcSessionInfo;
        all: OidcSessionInfo[];
      };

      beforeEach(async () => {
        const target = [session(), session()];
        const otherSidSameUser = session({ sid: 'sid-2' });
        const sameSidOtherIssuer = session({ issuer: OTHER_ISS });
        const sameSidOtherClient = session({ clientId: OTHER_CLIENT });
        const { sid: _sid, ...noSidSameUser } = session();
        const otherUser = session({ sid: 'sid-3', sub: 'user-2' });
        const otherUserOtherIssuer = session({ issuer: OTHER_ISS, sid: 'sid-9', sub: 'user-2' });
        const all = [
          ...target,
          otherSidSameUser,
          sameSidOtherIssuer,
          sameSidOtherClient,
          noSidSameUser,
          otherUser,
          otherUserOtherIssuer,
        ];
        await save(...all);
        world = {
          target,
          otherSidSameUser,
          sameSidOtherIssuer,
          sameSidOtherClient,
          noSidSameUser,
          otherUser,
          otherUserOtherIssuer,
          all,
        };
      });

      it('by sid removes only that OP session of that issuer and client', async () => {
        const removed = await repository.removeByLogoutToken({
          issuer: ISS,
          clientId: CLIENT,
          sid: 'sid-1',
        });
        expect(byId(removed)).toStrictEqual(byId(world.target));
        expect(await remaining()).toEqual(without(world.all, world.target));
      });

      it('by sid and the matching sub removes that OP session', async () => {
        const removed = await repository.removeByLogoutToken({
          issuer: ISS,
          clientId: CLIENT,
          sid: 'sid-1',
          sub: 'user-1',
        });
        expect(byId(removed)).toStrictEqual(byId(world.target));
        expect(await remaining()).toEqual(without(world.all, world.target));
      });

      it('by sid and a sub that does not match removes nothing', async () => {
        expect(
          await repository.removeByLogoutToken({
            issuer: ISS,
            clientId: CLIENT,
            sid: 'sid-1',
            sub: 'user-2',
          }),
        ).toEqual([]);
        expect(await remaining()).toEqual(ids(world.all));
      });

      it('by sub alone removes every session of that user at that issuer and client', async () => {
        const expected = [...world.target, world.otherSidSameUser, world.noSidSameUser];
        const removed = await repository.removeByLogoutToken({
          issuer: ISS,
          clientId: CLIENT,
          sub: 'user-1',
        });
        expect(byId(removed)).toStrictEqual(byId(expected));
        expect(await remaining()).toEqual(without(world.all, expected));
      });

      it('by sub of another issuer removes only that issuer’s sessions', async () => {
        const removed = await repository.removeByLogoutToken({
          issuer: OTHER_ISS,
          clientId: CLIENT,
          sub: 'user-2',
        });
        expect(removed).toStrictEqual([world.otherUserOtherIssuer]);
        expect(await remaining()).toEqual(without(world.all, [world.otherUserOtherIssuer]));
      });

      it('with no match returns [] and removes nothing', async () => {
        for (const criteria of [
          { issuer: ISS, clientId: CLIENT, sid: 'sid-unknown' },
          { issuer: ISS, clientId: CLIENT, sub: 'user-unknown' },
          { issuer: 'https://unknown.example.com', clientId: CLIENT, sid: 'sid-1' },
          { issuer: ISS, clientId: 'unknown-client', sub: 'user-1' },
          { issuer: ISS, clientId: CLIENT, sid: 'sid-9', sub: 'user-2' },
        ]) {
          expect(await repository.removeByLogoutToken(criteria)).toEqual([]);
        }
        expect(await remaining()).toEqual(ids(world.all));
      });

      it('rejects criteria without sid and sub, and removes nothing', async () => {
        for (const criteria of [
          { issuer: ISS, clientId: CLIENT },
          { issuer: ISS, clientId: CLIENT, sid: '', sub: '' },
          { issuer: ISS, clientId: CLIENT, sid: undefined, sub: undefined },
          { issuer: '', clientId: CLIENT, sub: 'user-1' },
          { issuer: ISS, clientId: '', sid: 'sid-1' },
        ]) {
          await expect(repository.removeByLogoutToken(criteria)).rejects.toThrow(TypeError);
        }
        expect(await remaining()).toEqual(ids(world.all));
      });

      it('a second identical logout finds nothing left', async () => {
        const criteria = { issuer: ISS, clientId: CLIENT, sub: 'user-2' };
        expect(await repository.removeByLogoutToken(criteria)).toStrictEqual([world.otherUser]);
        expect(await repository.removeByLogoutToken(criteria)).toEqual([]);
        expect(await remaining()).toEqual(without(world.all, [world.otherUser]));
      });
    });

    describe('volume and concurrency', () => {
      it('removes 200 sessions of one user by sub, and only those', async () => {
        const many = Array.from({ length: 200 }, (_, i) => session({ sid: `sid-m-${i}` }));
        const others = [session({ sub: 'user-2' }), session({ clientId: OTHER_CLIENT })];
        await Promise.all([...many, ...others].map((info) => repository.save(info)));
        for (const info of [...many, ...others]) saved.add(info.clientSessionId);
        const removed = await repository.removeByLogoutToken({
          issuer: ISS,
          clientId: CLIENT,
          sub: 'user-1',
        });
        expect(ids(removed)).toEqual(ids(many));
        expect(byId(removed)).toStrictEqual(byId(many));
        expect(await remaining()).toEqual(ids(others));
      });

      it('parallel saves and removals leave a consistent state', async () => {
        const victims = Array.from({ length: 30 }, (_, i) =>
          session({ sub: 'victim', sid: `v-${i % 5}` }),
        );
        const bystanders = Array.from({ length: 30 }, (_, i) =>
          session({ sub: `bystander-${i}`, sid: `b-${i}` }),
        );
        await Promise.all(victims.map((info) => repository.save(info)));
        for (const info of victims) saved.add(info.clientSessionId);

        const singles = bystanders.slice(0, 10);
        const results = await Promise.all([
          ...bystanders.map((info) => repository.save(info)),
          repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sub: 'victim' }),
          repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sub: 'victim' }),
          repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: 'v-1' }),
          repository.removeByLogoutToken({
            issuer: ISS,
            clientId: CLIENT,
            sid: 'v-2',
            sub: 'victim',
          }),
          ...victims
            .slice(0, 5)
            .map((info) => repository.removeByClientSessionId(info.clientSessionId)),
        ]);
        for (const info of bystanders) saved.add(info.clientSessionId);

        // Every victim was removed exactly once, whichever call got it.
        const reported = results
          .slice(bystanders.length)
          .flatMap((r) => (Array.isArray(r) ? r : r ? [r] : []))
          .map((info) => info.clientSessionId)
          .sort();
        expect(reported).toEqual(ids(victims));
        expect(await remaining()).toEqual(ids(bystanders));

        // Then removals of single bystanders race with re-saves of others.
        const resaved = bystanders
          .slice(10, 20)
          .map((info) => ({ ...info, sid: `${info.sid}-new` }));
        await Promise.all([
          ...singles.map((info) => repository.removeByClientSessionId(info.clientSessionId)),
          ...resaved.map((info) => repository.save(info)),
        ]);
        expect(await remaining()).toEqual(without(bystanders, singles));
        for (const info of resaved) {
          expect(await repository.findByClientSessionId(info.clientSessionId)).toStrictEqual(info);
        }
      });

      it('parallel saves of one clientSessionId keep exactly one of them', async () => {
        const id = hashSessionId('contended');
        const versions = Array.from({ length: 10 }, (_, i) =>
          session({ clientSessionId: id, sid: `sid-c-${i}`, sub: `user-c-${i}` }),
        );
        await Promise.all(versions.map((info) => repository.save(info)));
        saved.add(id);
        const found = await repository.findByClientSessionId(id);
        const winner = versions.find((info) => info.sid === found?.sid);
        expect(found).toStrictEqual(winner);
        for (const info of versions) {
          if (info === winner) continue;
          expect(
            await repository.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: info.sid! }),
          ).toEqual([]);
        }
        expect(
          await repository.removeByLogoutToken({
            issuer: ISS,
            clientId: CLIENT,
            sid: winner!.sid!,
          }),
        ).toStrictEqual([winner]);
        expect(await remaining()).toEqual([]);
      });
    });
  });
}

/** What an event-store contract run needs from an implementation under test. */
export interface OidcLogoutEventStoreFixture {
  store: OidcLogoutEventStore;
  /** Releases everything the fixture holds (database connections, files). */
  close(): Promise<void>;
  /** The clock the store uses, in epoch ms. Default `Date.now`. */
  now?: () => number;
}

/**
 * The behaviour every {@link OidcLogoutEventStore} must have (see its TSDoc), through the calls of
 * {@link logoutEventCalls} (a claim alone, a tombstone alone) and `begin` with both. Run it from a
 * spec file with a factory that returns a fresh, empty store each time.
 */
export function describeOidcLogoutEventStoreContract(
  name: string,
  factory: () => Promise<OidcLogoutEventStoreFixture>,
): void {
  describe(`OidcLogoutEventStore contract: ${name}`, () => {
    let fixture: OidcLogoutEventStoreFixture;
    let store: OidcLogoutEventStore;
    let events: LogoutEventCalls;
    let now: () => number;
    const HOUR = 3_600_000;

    beforeEach(async () => {
      fixture = await factory();
      store = fixture.store;
      events = logoutEventCalls(store);
      now = fixture.now ?? Date.now;
    });

    afterEach(async () => {
      await fixture.close();
    });

    describe('claims (replay protection) and tombstones', () => {
      /** A key shaped like the library's: a prefix and a hash. */
      const key = (label: string) => `test:${hashSessionId(label)}`;
      const at = (offset: number) => new Date(now() + offset);
      const FAR_FUTURE = () => new Date(now() + 1000 * HOUR);

      it('a claim resolves true until it is completed, then false while it lives', async () => {
        const k = key('jti-1');
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        // Claimed, not applied (a failed or concurrent application): apply it again.
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
        expect(await events.claimLogoutEvent(k, at(2 * HOUR))).toBe(false);
        // Completing again changes nothing.
        await events.completeLogoutEvent(k);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
      });

      it('completing touches no other key; completing an unknown key stores nothing', async () => {
        const k = key('jti-completed');
        const other = key('jti-claimed');
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        expect(await events.claimLogoutEvent(other, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        await events.completeLogoutEvent(key('never-claimed'));
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
        expect(await events.claimLogoutEvent(other, at(HOUR))).toBe(true);
        expect(await events.claimLogoutEvent(key('never-claimed'), at(HOUR))).toBe(true);
        // A completion reaches the claim's namespace only: a tombstone under the key is untouched.
        const shared = key('tomb-and-claim');
        await events.saveLogoutTombstone(shared, 7, at(HOUR));
        await events.completeLogoutEvent(shared);
        expect(await events.findLogoutTombstones([shared])).toEqual(new Map([[shared, 7]]));
        expect(await events.claimLogoutEvent(shared, at(HOUR))).toBe(true);
      });

      it('a claim still claimed lives until the later of its expiries', async () => {
        const t = now();
        const k = key('jti-extended');
        expect(await events.claimLogoutEvent(k, new Date(t + HOUR))).toBe(true);
        expect(await events.claimLogoutEvent(k, new Date(t + 2 * HOUR))).toBe(true);
        expect(await events.claimLogoutEvent(k, new Date(t + 30 * 60_000))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.removeExpired(new Date(t + 1.5 * HOUR))).toBe(0);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
        expect(await events.removeExpired(new Date(t + 2 * HOUR))).toBe(1);
      });

      it('an applied claim that expired is taken over, claimed again (not applied)', async () => {
        const k = key('jti-applied-expired');
        expect(await events.claimLogoutEvent(k, at(-1))).toBe(true);
        await events.completeLogoutEvent(k);
        // Expired: a completion no longer counts.
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
      });

      it('claims of different keys are independent; keys compare exactly', async () => {
        const variants = [
          'jti-a',
          'JTI-A',
          'jti-a ',
          ' jti-a',
          'jti-á',
          'jti-a\u0301',
          'k'.repeat(128),
          'k'.repeat(127),
          'ключ-🔑',
          key('x'),
          key('x').toUpperCase(),
        ];
        for (const k of variants) {
          expect(await events.claimLogoutEvent(k, at(HOUR)), k).toBe(true);
        }
        await events.completeLogoutEvent(variants[0]!);
        expect(await events.claimLogoutEvent(variants[0]!, at(HOUR))).toBe(false);
        for (const k of variants.slice(1)) {
          expect(await events.claimLogoutEvent(k, at(HOUR)), k).toBe(true);
        }
        for (const k of variants) await events.completeLogoutEvent(k);
        for (const k of variants) {
          expect(await events.claimLogoutEvent(k, at(HOUR)), k).toBe(false);
        }
      });

      it('an expired claim (expiresAt <= now) can be claimed again', async () => {
        const k = key('jti-expired');
        expect(await events.claimLogoutEvent(k, at(-1))).toBe(true);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);

        const exactlyNow = key('jti-now');
        expect(await events.claimLogoutEvent(exactlyNow, new Date(now()))).toBe(true);
        await events.completeLogoutEvent(exactlyNow);
        expect(await events.claimLogoutEvent(exactlyNow, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(exactlyNow);
        expect(await events.claimLogoutEvent(exactlyNow, at(HOUR))).toBe(false);
      });

      it('20 concurrent claims of one key not yet applied all resolve true; once applied, all false', async () => {
        const k = key('jti-race');
        const first = await Promise.all(
          Array.from({ length: 20 }, () => events.claimLogoutEvent(k, at(HOUR))),
        );
        expect(first).toEqual(first.map(() => true));
        await events.completeLogoutEvent(k);
        const replays = await Promise.all(
          Array.from({ length: 20 }, () => events.claimLogoutEvent(k, at(HOUR))),
        );
        expect(replays).toEqual(replays.map(() => false));
      });

      it('concurrent claims and completions of one key: every claim made after a completion resolved is false', async () => {
        const k = key('jti-race-complete');
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await Promise.all([
          ...Array.from({ length: 10 }, () => events.claimLogoutEvent(k, at(HOUR))),
          ...Array.from({ length: 5 }, () => events.completeLogoutEvent(k)),
        ]);
        const after = await Promise.all(
          Array.from({ length: 10 }, () => events.claimLogoutEvent(k, at(HOUR))),
        );
        expect(after).toEqual(after.map(() => false));
      });

      it('20 concurrent claims of an expired applied key: all resolve true, and it is claimed again', async () => {
        const k = key('jti-race-expired');
        expect(await events.claimLogoutEvent(k, at(-HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        const results = await Promise.all(
          Array.from({ length: 20 }, () => events.claimLogoutEvent(k, at(HOUR))),
        );
        expect(results).toEqual(results.map(() => true));
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);
      });

      it('concurrent claims of 20 different keys all resolve true', async () => {
        const keys = Array.from({ length: 20 }, (_, i) => key(`jti-many-${i}`));
        const results = await Promise.all(keys.map((k) => events.claimLogoutEvent(k, at(HOUR))));
        expect(results).toEqual(keys.map(() => true));
      });

      it('claims and tombstones are separate, even under the same key', async () => {
        const k = key('shared');
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(true);
        await events.completeLogoutEvent(k);
        expect(await events.findLogoutTombstones([k])).toEqual(new Map());
        await events.saveLogoutTombstone(k, 1000, at(HOUR));
        expect(await events.findLogoutTombstones([k])).toEqual(new Map([[k, 1000]]));
        expect(await events.claimLogoutEvent(k, at(HOUR))).toBe(false);

        const other = key('tombstone-first');
        await events.saveLogoutTombstone(other, 5, at(HOUR));
        expect(await events.claimLogoutEvent(other, at(HOUR))).toBe(true);
        expect(await events.findLogoutTombstones([other])).toEqual(new Map([[other, 5]]));
      });

      it('a tombstone upsert keeps the larger issuedAt and the later expiresAt', async () => {
        const t = now();
        const first = key('sid-tomb');
        await events.saveLogoutTombstone(first, 1_763_700_200, new Date(t + HOUR));
        await events.saveLogoutTombstone(first, 1_763_700_100, new Date(t + 2 * HOUR));
        const second = key('sub-tomb');
        await events.saveLogoutTombstone(second, 1_763_700_100, new Date(t + 2 * HOUR));
        await events.saveLogoutTombstone(second, 1_763_700_300, new Date(t + HOUR));
        expect(await events.findLogoutTombstones([first, second])).toEqual(
          new Map([
            [first, 1_763_700_200],
            [second, 1_763_700_300],
          ]),
        );
        // Both now expire at t + 2h, not t + 1h.
        expect(await events.removeExpired(new Date(t + 1.5 * HOUR))).toBe(0);
        expect(await events.removeExpired(new Date(t + 2 * HOUR))).toBe(2);
        expect(await events.findLogoutTombstones([first, second])).toEqual(new Map());
      });

      it('an expired tombstone is replaced, not merged', async () => {
        const k = key('old-tomb');
        await events.saveLogoutTombstone(k, 9_000_000_000, at(-1000));
        expect(await events.findLogoutTombstones([k])).toEqual(new Map());
        await events.saveLogoutTombstone(k, 100, at(HOUR));
        expect(await events.findLogoutTombstones([k])).toEqual(new Map([[k, 100]]));
        expect(await events.removeExpired(new Date(now()))).toBe(0);
      });

      it('concurrent saves of one tombstone keep the largest issuedAt and the latest expiry', async () => {
        const k = key('contended-tomb');
        const t = now();
        const issued = Array.from({ length: 20 }, (_, i) => 1_763_700_000 + ((i * 7) % 20));
        await Promise.all(
          issued.map((iat, i) =>
            events.saveLogoutTombstone(k, iat, new Date(t + HOUR + ((i * 11) % 20))),
          ),
        );
        expect(await events.findLogoutTombstones([k])).toEqual(new Map([[k, Math.max(...issued)]]));
        expect(await events.removeExpired(new Date(t + HOUR + 18))).toBe(0);
        expect(await events.removeExpired(new Date(t + HOUR + 19))).toBe(1);
      });

      it('findLogoutTombstones returns the live ones among the keys asked, and nothing else', async () => {
        const [a, b, expired, unknown, notAsked] = [
          'a',
          'b',
          'expired',
          'unknown',
          'not-asked',
        ].map((label) => key(`tomb-${label}`)) as [string, string, string, string, string];
        await events.saveLogoutTombstone(a, 10, at(HOUR));
        await events.saveLogoutTombstone(b, 0, at(HOUR));
        await events.saveLogoutTombstone(expired, 30, at(-1));
        await events.saveLogoutTombstone(notAsked, 40, at(HOUR));
        expect(await events.findLogoutTombstones([a, expired, unknown])).toEqual(
          new Map([[a, 10]]),
        );
        expect(await events.findLogoutTombstones([b, a, a, b])).toEqual(
          new Map([
            [b, 0],
            [a, 10],
          ]),
        );
        expect(await events.findLogoutTombstones([a.toUpperCase(), `${a} `])).toEqual(new Map());
        expect(await events.findLogoutTombstones([])).toEqual(new Map());
        const found = await events.findLogoutTombstones([unknown]);
        expect(found).toBeInstanceOf(Map);
        expect(found.size).toBe(0);
      });

      it('findLogoutTombstones answers for 600 keys at once', async () => {
        const keys = Array.from({ length: 600 }, (_, i) => key(`bulk-${i}`));
        const stored = [keys[0]!, keys[499]!, keys[500]!, keys[599]!];
        for (const [i, k] of stored.entries()) {
          await events.saveLogoutTombstone(k, 1_763_700_000 + i, at(HOUR));
        }
        expect(await events.findLogoutTombstones(keys)).toEqual(
          new Map(stored.map((k, i) => [k, 1_763_700_000 + i])),
        );
      });

      it('the expiry hook deletes expired claims and tombstones, counting them', async () => {
        const t = now();
        const [oldClaim, oldClaim2, oldTomb, liveClaim, liveTomb] = [
          'old-claim',
          'old-claim-2',
          'old-tomb',
          'live-claim',
          'live-tomb',
        ].map(key) as [string, string, string, string, string];
        await events.claimLogoutEvent(oldClaim, new Date(t - HOUR));
        await events.claimLogoutEvent(oldClaim2, new Date(t));
        await events.saveLogoutTombstone(oldTomb, 1, new Date(t - 1));
        await events.claimLogoutEvent(liveClaim, new Date(t + HOUR));
        await events.completeLogoutEvent(liveClaim);
        await events.saveLogoutTombstone(liveTomb, 2, new Date(t + HOUR));

        expect(await events.removeExpired(new Date(t))).toBe(3);
        expect(await events.removeExpired(new Date(t))).toBe(0);
        expect(await events.findLogoutTombstones([oldTomb, liveTomb])).toEqual(
          new Map([[liveTomb, 2]]),
        );
        expect(await events.claimLogoutEvent(liveClaim, at(HOUR))).toBe(false);
        expect(await events.claimLogoutEvent(oldClaim, at(HOUR))).toBe(true);
        expect(await events.removeExpired(FAR_FUTURE())).toBe(3);
      });

      it('rejects invalid keys, issuedAt values and dates with a TypeError, storing nothing', async () => {
        const good = key('good');
        const badKeys = ['', 'k'.repeat(129), 42, undefined, null] as unknown as string[];
        for (const bad of badKeys) {
          await expect(events.claimLogoutEvent(bad, at(HOUR))).rejects.toThrow(TypeError);
          await expect(events.completeLogoutEvent(bad)).rejects.toThrow(TypeError);
          await expect(events.saveLogoutTombstone(bad, 1, at(HOUR))).rejects.toThrow(TypeError);
          await expect(events.findLogoutTombstones([good, bad])).rejects.toThrow(TypeError);
        }
        for (const bad of [-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY, 2 ** 53, '1']) {
          await expect(events.saveLogoutTombstone(good, bad as number, at(HOUR))).rejects.toThrow(
            TypeError,
          );
        }
        for (const bad of [new Date(Number.NaN), Date.now(), undefined] as unknown as Date[]) {
          await expect(events.claimLogoutEvent(good, bad)).rejects.toThrow(TypeError);
          await expect(events.saveLogoutTombstone(good, 1, bad)).rejects.toThrow(TypeError);
        }
        await expect(events.removeExpired(new Date(Number.NaN))).rejects.toThrow(TypeError);
        expect(await events.findLogoutTombstones([good])).toEqual(new Map());
        expect(await events.claimLogoutEvent(good, at(HOUR))).toBe(true);
        expect(await events.removeExpired(FAR_FUTURE())).toBe(1);
      });
    });

    describe('begin: a claim and a tombstone in one call', () => {
      const key = (label: string) => `test:${hashSessionId(label)}`;
      const at = (offset: number) => new Date(now() + offset);

      it('applies, records the tombstone, and after completion answers replay (the tombstone kept)', async () => {
        const claim = { key: key('jti-both'), expiresAt: at(HOUR) };
        const tombstone = { key: key('sid-both'), issuedAt: 1_763_700_100, expiresAt: at(HOUR) };
        expect(await store.begin({ claim, tombstone })).toBe('apply');
        expect(await store.findTombstones([tombstone.key])).toEqual(
          new Map([[tombstone.key, 1_763_700_100]]),
        );
        // Claimed, not applied (a failed or concurrent application): apply it again.
        expect(await store.begin({ claim, tombstone })).toBe('apply');
        await store.complete(claim.key);
        expect(
          await store.begin({ claim, tombstone: { ...tombstone, issuedAt: 1_763_700_000 } }),
        ).toBe('replay');
        // A replay's tombstone keeps the larger issuedAt.
        expect(await store.findTombstones([tombstone.key])).toEqual(
          new Map([[tombstone.key, 1_763_700_100]]),
        );
        // Only the claim of the same key is a replay; the tombstone alone is always applied.
        expect(await store.begin({ tombstone })).toBe('apply');
        expect(await store.begin({ claim: { ...claim, key: key('jti-other') }, tombstone })).toBe(
          'apply',
        );
        expect(await store.begin({})).toBe('apply');
      });

      it('concurrent begins of one token apply it until one completes', async () => {
        const claim = { key: key('jti-race'), expiresAt: at(HOUR) };
        const tombstone = { key: key('sid-race'), issuedAt: 7, expiresAt: at(HOUR) };
        const outcomes = await Promise.all(
          Array.from({ length: 8 }, () => store.begin({ claim, tombstone })),
        );
        expect(outcomes).toEqual(Array.from({ length: 8 }, () => 'apply'));
        await store.complete(claim.key);
        const replays = await Promise.all(
          Array.from({ length: 4 }, () => store.begin({ claim, tombstone })),
        );
        expect(replays).toEqual(Array.from({ length: 4 }, () => 'replay'));
      });

      it('takes over an expired applied claim: apply again', async () => {
        const claim = { key: key('jti-expired'), expiresAt: at(-1) };
        expect(await store.begin({ claim })).toBe('apply');
        await store.complete(claim.key);
        expect(await store.begin({ claim: { ...claim, expiresAt: at(HOUR) } })).toBe('apply');
      });
    });
  });
}
