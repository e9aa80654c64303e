/**
 * With the library's two Redis stores on one client and key prefix, a logout is one script: the
 * claim and tombstone, the removal of the sessions and the claim marked applied (instead of
 * `begin`, the removal and `complete`, three round trips). Anywhere else (another prefix or client,
 * a store of the app's, a subclass that overrides a method) the three steps run apart, as before.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { InMemoryOidcLogoutEventStore, type OidcRevocationEvent } from '../../lib';
import type { OidcLogoutCriteria } from '../../lib/interfaces/oidc-session-info.interface';
import type { OidcLogoutEventBegin } from '../../lib/logout-events/oidc-logout-event.store';
import {
  RedisOidcLogoutEventStore,
  RedisOidcSessionRepository,
  type RedisClientLike,
} from '../../lib/redis';
import { wholeLogout } from '../../lib/repositories/joint-completion';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { announceRedis, openRedis, REDIS_CLIENT_KINDS, type TestRedis } from '../fixtures/redis';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { startTestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const enabled = announceRedis('Redis whole-logout e2e');
const ISS = 'https://op.example.com/realms/main';
const CLIENT = 'app-a';
const HOUR = 3_600_000;

/**
 * Counts the scripts (`EVALSHA` or `EVAL`) a client runs, by wrapping its command method: the
 * stores take the method when they are built, so it is wrapped before. An `EVALSHA` answered
 * `NOSCRIPT` ran nothing (a server that has not cached the script yet: the `EVAL` that follows is
 * the run), so the count does not depend on which test loaded a script first. Answers a counter
 * to start.
 */
function scriptCounter(client: RedisClientLike): () => () => number {
  const raw = client as unknown as Record<string, (...args: unknown[]) => unknown>;
  const method = typeof raw.call === 'function' ? 'call' : 'sendCommand';
  const original = raw[method]!;
  let sent = 0;
  raw[method] = function (this: unknown, ...args: unknown[]) {
    const command = Array.isArray(args[0]) ? (args[0] as unknown[])[0] : args[0];
    if (command !== 'EVALSHA' && command !== 'EVAL') return original.apply(this, args);
    sent++;
    const answer = original.apply(this, args);
    if (command === 'EVALSHA' && answer instanceof Promise) {
      answer.catch((error: unknown) => {
        if (error instanceof Error && error.message.startsWith('NOSCRIPT')) sent--;
      });
    }
    return answer;
  };
  return () => {
    const start = sent;
    return () => sent - start;
  };
}

describe.skipIf(!enabled).each(REDIS_CLIENT_KINDS)('a whole logout on Redis (%s)', (kind) => {
  let redis: TestRedis;
  let sessions: RedisOidcSessionRepository;
  let events: RedisOidcLogoutEventStore;
  let countScripts: () => () => number;

  beforeAll(async () => {
    redis = await openRedis(kind);
    countScripts = scriptCounter(redis.client);
    sessions = RedisOidcSessionRepository.with(redis.client, { keyPrefix: redis.keyPrefix });
    events = RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: redis.keyPrefix });
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => redis?.close());

  const save = (id: string, sid: string) =>
    sessions.save({
      clientSessionId: id,
      registrationId: 'main',
      issuer: ISS,
      clientId: CLIENT,
      sub: `sub-of-${id}`,
      sid,
      idToken: `id-token-of-${id}`,
      expiresAt: new Date(Date.now() + HOUR),
      createdAt: new Date(),
    });
  const event = (claim: string, tombstone: string): OidcLogoutEventBegin => ({
    claim: { key: claim, expiresAt: new Date(Date.now() + HOUR) },
    tombstone: {
      key: tombstone,
      issuedAt: Math.floor(Date.now() / 1000),
      expiresAt: new Date(Date.now() + HOUR),
    },
  });
  const bySid = (sid: string): OidcLogoutCriteria => ({ issuer: ISS, clientId: CLIENT, sid });
  const claimDone = async (key: string) =>
    (await redis.hmget(`{${redis.keyPrefix}}:e:c:${key}`, ['done']))[0];

  it('claims, tombstones, removes and marks the claim applied in one script; the same claim again is a replay that removes nothing', async () => {
    const n = randomUUID();
    await save(`s1-${n}`, `sid-${n}`);
    await save(`s2-${n}`, `other-${n}`);
    const whole = wholeLogout(sessions, events);
    expect(whole).toBeTypeOf('function');
    const scripts = countScripts();
    const removed = await whole!(event(`j-${n}`, `t-${n}`), bySid(`sid-${n}`));
    expect(scripts()).toBe(1);
    expect(removed !== 'replay' && removed.map((info) => info.clientSessionId)).toEqual([
      `s1-${n}`,
    ]);
    expect(await claimDone(`j-${n}`)).toBe('1');
    expect((await events.findTombstones([`t-${n}`])).has(`t-${n}`)).toBe(true);
    expect(await events.begin(event(`j-${n}`, `t-${n}`))).toBe('replay');
    // A login of the same OP session saved since: the replay leaves it alone.
    await save(`s3-${n}`, `sid-${n}`);
    expect(await whole!(event(`j-${n}`, `t-${n}`), bySid(`sid-${n}`))).toBe('replay');
    expect(await sessions.findByClientSessionId(`s3-${n}`)).toBeDefined();
    expect(await sessions.findByClientSessionId(`s2-${n}`)).toBeDefined();
  });

  it('applies a claim left claimed by an earlier attempt, and a logout without claim or tombstone', async () => {
    const n = randomUUID();
    await save(`s1-${n}`, `sid-${n}`);
    expect(await events.begin(event(`j-${n}`, `t-${n}`))).toBe('apply');
    expect(await claimDone(`j-${n}`)).toBe('0');
    const whole = wholeLogout(sessions, events)!;
    const removed = await whole(event(`j-${n}`, `t-${n}`), bySid(`sid-${n}`));
    expect(removed !== 'replay' && removed.length).toBe(1);
    expect(await claimDone(`j-${n}`)).toBe('1');
    await save(`s2-${n}`, `sid2-${n}`);
    const bare = await whole({}, bySid(`sid2-${n}`));
    expect(bare !== 'replay' && bare.map((info) => info.clientSessionId)).toEqual([`s2-${n}`]);
  });

  it('is not offered across key prefixes or clients, with an event store of the app, nor when a subclass overrides a step', async () => {
    expect(
      wholeLogout(sessions, RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: 'other' })),
    ).toBeUndefined();
    const otherClient = await openRedis(kind);
    try {
      const elsewhere = RedisOidcLogoutEventStore.with(otherClient.client, {
        keyPrefix: redis.keyPrefix,
      });
      expect(wholeLogout(sessions, elsewhere)).toBeUndefined();
    } finally {
      await otherClient.close();
    }
    expect(wholeLogout(sessions, new InMemoryOidcLogoutEventStore())).toBeUndefined();
    const options = { keyPrefix: redis.keyPrefix };
    class OwnRemoval extends RedisOidcSessionRepository {
      override removeByLogoutToken(criteria: OidcLogoutCriteria) {
        return super.removeByLogoutToken(criteria);
      }
    }
    class OwnBegin extends RedisOidcLogoutEventStore {
      override begin(value: OidcLogoutEventBegin) {
        return super.begin(value);
      }
    }
    class OwnCompletion extends RedisOidcLogoutEventStore {
      override complete(key: string) {
        return super.complete(key);
      }
    }
    expect(wholeLogout(new OwnRemoval(redis.client, options), events)).toBeUndefined();
    expect(wholeLogout(sessions, new OwnBegin(redis.client, options))).toBeUndefined();
    expect(wholeLogout(sessions, new OwnCompletion(redis.client, options))).toBeUndefined();
  });
});

describe.skipIf(!enabled)('a back-channel logout on Redis, over HTTP', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let redis: TestRedis;
  let countScripts: () => () => number;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    redis = await openRedis('ioredis');
    countScripts = scriptCounter(redis.client);
  });
  afterEach(() => vi.restoreAllMocks());
  afterAll(async () => {
    await redis?.close();
    await op?.close();
  });

  async function loggedOut(
    logoutEventStore: RedisOidcLogoutEventStore | InMemoryOidcLogoutEventStore,
  ) {
    const app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
        sessionRepository: RedisOidcSessionRepository.with(redis.client, {
          keyPrefix: redis.keyPrefix,
        }),
        logoutEventStore,
      },
    });
    const told: OidcRevocationEvent[] = [];
    app.logoutService.onRevocation((revocation) => {
      told.push(revocation);
    });
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const login = (user: string, opSession: string) =>
      signIdToken(keys, { iss: op.issuer, aud: 'app', sub: user, sid: opSession }).then((token) =>
        loginAt(app.url, token),
      );
    const cookie = await login(sub, sid);
    const other = await login(`o-${sub}`, `o-${sid}`);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      sub,
      sid,
      claims: { aud: 'app' },
    });
    // Whatever the logins left running has run by now: only the logout's scripts are counted.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const scripts = countScripts();
    const answer = await postLogoutToken(app.url, 'main', token);
    // Whatever runs after the answer has run by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { app, told, answer, scripts: scripts(), cookie, other, token };
  }

  it('costs one script; the session is refused, the other passes; a replay is acknowledged and changes nothing', async () => {
    const events = RedisOidcLogoutEventStore.with(redis.client, { keyPrefix: redis.keyPrefix });
    const { app, told, answer, scripts, cookie, other, token } = await loggedOut(events);
    try {
      expect(answer.status).toBe(200);
      expect(scripts).toBe(1);
      expect(await privateStatus(app.url, cookie)).toBe(401);
      expect(await privateStatus(app.url, other)).toBe(200);
      expect(told.map((revocation) => revocation.sessions.length)).toEqual([1]);
      const replay = await postLogoutToken(app.url, 'main', token);
      expect(replay.status).toBe(200);
      expect(told).toHaveLength(1);
      expect(await privateStatus(app.url, other)).toBe(200);
    } finally {
      await app.close();
    }
  });

  it('with an event store of the app, the Redis repository removes in a script of its own, and that store completes the claim', async () => {
    const events = new InMemoryOidcLogoutEventStore();
    const complete = vi.spyOn(events, 'complete');
    const { app, told, answer, scripts, cookie, other } = await loggedOut(events);
    try {
      expect(answer.status).toBe(200);
      expect(scripts).toBe(1);
      expect(complete).toHaveBeenCalledTimes(1);
      expect(await privateStatus(app.url, cookie)).toBe(401);
      expect(await privateStatus(app.url, other)).toBe(200);
      expect(told).toHaveLength(1);
    } finally {
      await app.close();
    }
  });
});
