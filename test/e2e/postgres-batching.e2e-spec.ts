import 'reflect-metadata';
import { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OidcSessionRepositoryError } from '../../lib/errors/oidc-logout.error';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../../lib/interfaces/oidc-session-info.interface';
import { InMemoryOidcSessionRepository } from '../../lib/repositories/in-memory-oidc-session.repository';
import { InMemoryOidcLogoutEventStore } from '../../lib/logout-events/in-memory-oidc-logout-event.store';
import { TypeOrmOidcLogoutEventStore } from '../../lib/logout-events/typeorm/typeorm-oidc-logout-event.store';
import { logoutEventCalls, type LogoutEventCalls } from '../repository/logout-event-calls';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import { loseAnswers } from '../fixtures/lost-answers';

/**
 * PostgreSQL batches concurrent calls of one kind into one statement (see DirectStatements). Each
 * case fires calls at once on a repository that batches (`maxConcurrent: 1`: the first call runs
 * alone, every other waits and shares the next statement), checks that they did share statements,
 * and that every call answered what it answers when the calls run one by one, in order, on the
 * in-memory repository (the reference).
 */
const ISS = 'https://op.example.com/realms/main';
const CLIENT = 'app-a';
const HOUR = 3_600_000;

const enabled = announceDatabase('postgres', 'PostgreSQL statement batching e2e');

function session(id: string, user: string, sid: string | undefined, expiresIn = HOUR) {
  const now = Date.now();
  const info: OidcSessionInfo = {
    clientSessionId: id,
    registrationId: 'main',
    issuer: ISS,
    clientId: CLIENT,
    sub: user,
    idToken: `id-token-of-${id}`,
    expiresAt: new Date(now + expiresIn),
    createdAt: new Date(now),
  };
  if (sid !== undefined) info.sid = sid;
  return info;
}

/** The ids of answered infos, sorted: what a call's answer is compared by. */
const ids = (infos: readonly OidcSessionInfo[]) => infos.map((info) => info.clientSessionId).sort();

/** Runs `calls` one by one, in order, on the reference repository. */
async function inSequence<T>(calls: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  for (const call of calls) results.push(await call());
  return results;
}

describe.skipIf(!enabled)('TypeOrmOidcSessionRepository on PostgreSQL: statement batching', () => {
  let dataSource: DataSource;
  let batched: TypeOrmOidcSessionRepository;
  let reference: InMemoryOidcSessionRepository;
  /** The logout-event stores, batched on PostgreSQL and in memory, through the claim calls. */
  let batchedEvents: LogoutEventCalls;
  let referenceEvents: LogoutEventCalls;
  /** Statements run since the last `statements()` (one query runner per statement). */
  let statements: () => number;

  beforeEach(async () => {
    dataSource = await createTestDataSource('postgres', { migrations: true });
    batched = new TypeOrmOidcSessionRepository(dataSource, {
      batching: { maxConcurrent: 1, maxSize: 100 },
    });
    await batched.init();
    reference = new InMemoryOidcSessionRepository();
    const eventStore = new TypeOrmOidcLogoutEventStore(dataSource, {
      batching: { maxConcurrent: 1, maxSize: 100 },
    });
    await eventStore.init();
    batchedEvents = logoutEventCalls(eventStore);
    referenceEvents = logoutEventCalls(new InMemoryOidcLogoutEventStore());
    const spy = vi.spyOn(dataSource, 'createQueryRunner');
    statements = () => {
      const count = spy.mock.calls.length;
      spy.mockClear();
      return count;
    };
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await destroyTestDataSource(dataSource);
  });

  async function saveBoth(infos: OidcSessionInfo[]): Promise<void> {
    for (const info of infos) {
      await batched.save(info);
      await reference.save(info);
    }
  }

  it('concurrent lookups share statements and answer each what it answers alone', async () => {
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    await saveBoth([
      ...users.map((user, i) => session(`live-${i}`, user, `sid-${i}`)),
      ...users.slice(0, 10).map((user, i) => session(`expired-${i}`, user, undefined, -1000)),
    ]);
    const lookups = [
      ...users.map((_, i) => `live-${i}`),
      ...users.slice(0, 10).map((_, i) => `expired-${i}`),
      'absent',
      'live-3', // twice in one batch
      'LIVE-4', // exact comparison
    ];
    statements();
    const answers = await Promise.all(lookups.map((id) => batched.findByClientSessionId(id)));
    const used = statements();
    const expected = await inSequence(
      lookups.map((id) => () => reference.findByClientSessionId(id)),
    );
    expect(answers).toEqual(expected);
    expect(answers.filter(Boolean)).toHaveLength(41);
    // The first call alone, the other 52 in one statement.
    expect(used).toBe(2);

    const exists = await Promise.all(
      lookups.map((id) => Promise.resolve(batched.existsByClientSessionId(id))),
    );
    expect(statements()).toBe(2);
    expect(exists).toEqual(expected.map((info) => info !== undefined));
  });

  it('without batching, each call is a statement of its own (what the count above tells)', async () => {
    const unbatched = new TypeOrmOidcSessionRepository(dataSource, { batching: false });
    await saveBoth([session('one', 'user', 'sid')]);
    statements();
    await Promise.all(Array.from({ length: 20 }, () => unbatched.findByClientSessionId('one')));
    expect(statements()).toBe(20);
  });

  it('concurrent logouts by sid, sub and both remove what they would one by one, each row reported once', async () => {
    const infos: OidcSessionInfo[] = [];
    for (let user = 0; user < 20; user++) {
      infos.push(session(`u${user}-a`, `user-${user}`, `sid-${user}-a`));
      infos.push(session(`u${user}-b`, `user-${user}`, `sid-${user}-b`));
    }
    infos.push(session('other-client', 'user-0', 'sid-0-a'));
    infos[infos.length - 1] = { ...infos[infos.length - 1]!, clientId: 'app-b' };
    infos.push(session('no-sid', 'user-19', undefined));
    await saveBoth(infos);
    const logouts: OidcLogoutCriteria[] = [
      { issuer: ISS, clientId: CLIENT, sid: 'sid-0-a' },
      { issuer: ISS, clientId: CLIENT, sub: 'user-4' },
      { issuer: ISS, clientId: CLIENT, sid: 'sid-0-a' }, // repeat in the same batch: nothing left
      { issuer: ISS, clientId: CLIENT, sid: 'sid-1-a', sub: 'user-1' },
      { issuer: ISS, clientId: CLIENT, sid: 'sid-2-a', sub: 'user-3' }, // sid of another user
      { issuer: ISS, clientId: CLIENT, sub: 'user-19' }, // with and without sid
      { issuer: ISS, clientId: CLIENT, sid: 'SID-5-A' }, // exact comparison
      { issuer: 'https://op.example.com/realms/other', clientId: CLIENT, sid: 'sid-6-a' },
      ...Array.from({ length: 10 }, (_, i) => ({
        issuer: ISS,
        clientId: CLIENT,
        ...(i % 2 ? { sub: `user-${i + 7}` } : { sid: `sid-${i + 7}-b` }),
      })),
    ];
    statements();
    const answers = await Promise.all(logouts.map((logout) => batched.removeByLogoutToken(logout)));
    const used = statements();
    const expected = await inSequence(
      logouts.map((logout) => () => reference.removeByLogoutToken(logout)),
    );
    expect(answers.map(ids)).toEqual(expected.map(ids));
    // Per shape (sid, sub, sid and sub), the first call alone, then one statement for the rest.
    // (Calls of different shapes run at once, as without batching: none here names the same row.)
    expect(used).toBe(6);
    const left = await Promise.all(
      infos.map((info) => batched.findByClientSessionId(info.clientSessionId)),
    );
    const leftInReference = await Promise.all(
      infos.map((info) => reference.findByClientSessionId(info.clientSessionId)),
    );
    expect(left.map((info) => info?.clientSessionId)).toEqual(
      leftInReference.map((info) => info?.clientSessionId),
    );
  });

  it('concurrent claims answer each what it answers in sequence: apply unless the claim is live and applied', async () => {
    const soon = () => new Date(Date.now() + 50);
    const later = () => new Date(Date.now() + HOUR);
    for (const repository of [batchedEvents, referenceEvents]) {
      await repository.claimLogoutEvent('applied', later());
      await repository.completeLogoutEvent('applied');
      await repository.claimLogoutEvent('claimed', later());
      await repository.claimLogoutEvent('expiring', soon());
      await repository.completeLogoutEvent('expiring');
    }
    await new Promise((resolve) => setTimeout(resolve, 120));
    const keys = ['first', 'applied', 'expiring', 'a', 'b', 'a', 'claimed', 'expiring', 'b', 'd'];
    const until = later();
    statements();
    const answers = await Promise.all(
      keys.map((key) => batchedEvents.claimLogoutEvent(key, until)),
    );
    const used = statements();
    const expected = await inSequence(
      keys.map((key) => () => referenceEvents.claimLogoutEvent(key, until)),
    );
    expect(answers).toEqual(expected);
    expect(answers).toEqual([true, false, true, true, true, true, true, true, true, true]);
    expect(used).toBe(2);

    // Completions share a statement too; then every key is a replay.
    const distinct = [...new Set(keys)];
    await Promise.all(distinct.map((key) => batchedEvents.completeLogoutEvent(key)));
    expect(statements()).toBe(2);
    const replays = await Promise.all(
      keys.map((key) => batchedEvents.claimLogoutEvent(key, until)),
    );
    expect(replays).toEqual(keys.map(() => false));
  });

  it('a claim batch that committed but whose answer was lost, run again call by call, still answers "apply"', async () => {
    const until = new Date(Date.now() + HOUR);
    // The batch claim statement commits, then its connection fails before the answer arrives.
    const lost = loseAnswers(
      dataSource,
      (sql) => sql.includes('unnest') && sql.includes("'claim'"),
    );
    const keys = ['j1', 'j2', 'j3', 'j4', 'j5'];
    const answers = await Promise.all(
      keys.map((key) => batchedEvents.claimLogoutEvent(key, until)),
    );
    expect(lost()).toBe(1);
    // Not applied yet by anyone: each caller applies it (none is taken for a replay).
    expect(answers).toEqual(keys.map(() => true));
  });

  it('concurrent tombstones of one key keep the largest issuedAt, as in sequence', async () => {
    const until = new Date(Date.now() + HOUR);
    const writes = [
      ['k1', 100],
      ['k2', 50],
      ['k1', 300],
      ['k3', 7],
      ['k1', 200],
      ['k2', 40],
    ] as const;
    await batchedEvents.saveLogoutTombstone('k3', 9, until); // a live tombstone with a larger issuedAt
    await referenceEvents.saveLogoutTombstone('k3', 9, until);
    statements();
    await Promise.all(
      writes.map(([key, iat]) => batchedEvents.saveLogoutTombstone(key, iat, until)),
    );
    expect(statements()).toBe(2);
    await inSequence(
      writes.map(
        ([key, iat]) =>
          () =>
            referenceEvents.saveLogoutTombstone(key, iat, until),
      ),
    );
    const keys = ['k1', 'k2', 'k3', 'k4'];
    const found = await batchedEvents.findLogoutTombstones(keys);
    expect(found).toEqual(await referenceEvents.findLogoutTombstones(keys));
    expect(Object.fromEntries(found)).toEqual({ k1: 300, k2: 50, k3: 9 });
  });

  it('a call the database refuses fails alone: the others of its batch get their answers', async () => {
    await saveBoth([
      session('s1', 'user-1', 'sid-1'),
      session('s2', 'user-2', 'sid-2'),
      session('s3', 'user-3', 'sid-3'), // named by no call: must stay
    ]);
    const logouts: OidcLogoutCriteria[] = [
      { issuer: ISS, clientId: CLIENT, sid: 'unknown' },
      { issuer: ISS, clientId: CLIENT, sid: 'sid-1' },
      // PostgreSQL refuses NUL in text: this statement fails, and so would a batch holding it.
      { issuer: ISS, clientId: CLIENT, sid: 'bad\u0000sid' },
      { issuer: ISS, clientId: CLIENT, sid: 'sid-2' },
    ];
    const settled = await Promise.allSettled(
      logouts.map((logout) => batched.removeByLogoutToken(logout)),
    );
    expect(settled.map((result) => result.status)).toEqual([
      'fulfilled',
      'fulfilled',
      'rejected',
      'fulfilled',
    ]);
    const [, first, refused, second] = settled;
    expect(first?.status === 'fulfilled' && ids(first.value)).toEqual(['s1']);
    expect(second?.status === 'fulfilled' && ids(second.value)).toEqual(['s2']);
    expect(refused?.status === 'rejected' && refused.reason).toBeInstanceOf(
      OidcSessionRepositoryError,
    );
    expect(String(refused?.status === 'rejected' && refused.reason)).not.toContain('bad');
    // The refused call and the unknown sid revoked nothing.
    expect(await batched.findByClientSessionId('s3')).toBeDefined();
  });

  it('rejects batching limits that are not positive integers', () => {
    for (const batching of [
      { maxConcurrent: 0 },
      { maxSize: 1.5 },
      { maxConcurrent: Number.NaN },
    ]) {
      expect(() => new TypeOrmOidcSessionRepository(dataSource, { batching })).toThrow(RangeError);
    }
  });
});
