/**
 * Replay protection of back-channel logout tokens, over HTTP on a real Nest app: the replay key is
 * (issuer, client, jti), so one token addressed to two registrations of one OP ends the session at
 * each; the per-process store refuses a new claim rather than forget a live one; and a claim whose
 * completion fails after the answer is kept and completed by the retry.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  InMemoryOidcLogoutEventStore,
  InMemoryOidcSessionRepository,
  type OidcRevocationEvent,
} from '../../lib';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { RecordingRepository } from '../fixtures/recording-repository';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { KEPT_ANSWER as KEPT } from '../fixtures/back-channel-answers';

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});
afterAll(async () => op?.close());

type Backend = 'memory' | DatabaseKind;
const backends: Backend[] = ['memory', 'sqlite', 'postgres', 'mariadb'];

describe.each(backends)('one logout token for two registrations of one OP (%s)', (backend) => {
  if (backend !== 'memory' && !announceDatabase(backend, 'logout-claim e2e')) {
    it.skip(`needs OIDC_LOGOUT_TEST_${backend.toUpperCase()}=1 and a local ${backend} server`, () => {});
    return;
  }

  let dataSource: DataSource | undefined;
  let app: TestApp;
  const events: OidcRevocationEvent[] = [];

  beforeAll(async () => {
    dataSource = backend === 'memory' ? undefined : await createTestDataSource(backend);
    app = await startTestApp({
      oidc: {
        clients: [
          { registrationId: 'reg-a', issuer: op.issuer, clientId: 'client-a' },
          { registrationId: 'reg-b', issuer: op.issuer, clientId: 'client-b' },
        ],
        ...(dataSource ? { dataSource } : {}),
      },
    });
    app.logoutService.onRevocation((event) => {
      events.push(event);
    });
  });

  afterAll(async () => {
    await app?.close();
    if (dataSource) await destroyTestDataSource(dataSource);
  });

  afterEach(() => {
    events.length = 0;
  });

  const login = async (clientId: string, sub: string, sid: string) =>
    loginAt(app.url, await signIdToken(keys, { iss: op.issuer, aud: clientId, sub, sid }));

  it('aud [a, b] delivered to a and to b ends the session at each; a replay to a registration is 200 and removes nothing', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const atA = await login('client-a', sub, sid);
    const atB = await login('client-b', sub, sid);
    const other = await login('client-b', `other-${randomUUID()}`, `sid-${randomUUID()}`);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      sub,
      sid,
      claims: { aud: ['client-a', 'client-b'] },
    });

    const toA = await postLogoutToken(app.url, 'reg-a', token);
    expect(toA.status).toBe(200);
    expect(await privateStatus(app.url, atA)).toBe(401);
    const toB = await postLogoutToken(app.url, 'reg-b', token);
    expect(toB.status).toBe(200);
    expect(toB.body).toBeUndefined();
    expect(await privateStatus(app.url, atB)).toBe(401);
    expect(events.map((event) => [event.registrationId, event.sessions.length])).toEqual([
      ['reg-a', 1],
      ['reg-b', 1],
    ]);

    // The same token to the same registrations again: replays, acknowledged, nothing done again.
    for (const registration of ['reg-a', 'reg-b']) {
      const replay = await postLogoutToken(app.url, registration, token);
      expect(replay.status).toBe(200);
      expect(replay.body).toBeUndefined();
    }
    expect(events).toHaveLength(2);
    expect(await privateStatus(app.url, other)).toBe(200);
  });
});

describe('the per-process logout-event store, full of live entries', () => {
  let app: TestApp;
  let repository: InMemoryOidcSessionRepository;
  const events: OidcRevocationEvent[] = [];

  beforeAll(async () => {
    // Six entries: three logouts (a claim and a tombstone each) fill it.
    repository = new InMemoryOidcSessionRepository();
    app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
        sessionRepository: repository,
        logoutEventStore: new InMemoryOidcLogoutEventStore({ maxEntries: 6 }),
      },
    });
    app.logoutService.onRevocation((event) => {
      events.push(event);
    });
  });
  afterAll(async () => app?.close());

  it('refuses a new logout (400, kept, the session refused meanwhile) rather than forget a live claim', async () => {
    const user = () => ({ sub: `user-${randomUUID()}`, sid: `sid-${randomUUID()}` });
    const tokenFor = (who: { sub: string; sid: string }) =>
      signLogoutToken(keys, { issuer: op.issuer, clientId: 'app', ...who });
    const loginOf = async (who: { sub: string; sid: string }) =>
      loginAt(app.url, await signIdToken(keys, { iss: op.issuer, aud: 'app', ...who }));

    const first = [user(), user(), user()];
    const firstTokens: string[] = [];
    for (const who of first) {
      await loginOf(who);
      const token = await tokenFor(who);
      firstTokens.push(token);
      expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);
    }
    expect(events).toHaveLength(3);

    const late = user();
    const lateCookie = await loginOf(late);
    const refused = await postLogoutToken(app.url, 'main', await tokenFor(late));
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual(KEPT);
    // Not applied: the record is still in the store, and no revocation was announced.
    const sessionId = /^connect\.sid=s%3A([^.]+)\./.exec(lateCookie)?.[1];
    expect(sessionId).toBeDefined();
    expect(
      await repository.findByClientSessionId(hashSessionId(decodeURIComponent(sessionId!))),
    ).toBeDefined();
    expect(events).toHaveLength(3);
    // Fail closed meanwhile: this instance refuses the session the kept logout names.
    expect(await privateStatus(app.url, lateCookie)).toBe(401);

    // Every earlier claim is still known: their replays change nothing.
    for (const token of firstTokens) {
      const replay = await postLogoutToken(app.url, 'main', token);
      expect(replay.status).toBe(200);
    }
    expect(events).toHaveLength(3);
  });
});

describe('the claim cannot be marked applied after the removal (the store fails in between)', () => {
  let app: TestApp;
  const repository = new RecordingRepository();
  const events: OidcRevocationEvent[] = [];

  beforeAll(async () => {
    app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
        sessionRepository: repository,
        logoutEventStore: repository.events,
      },
    });
    app.logoutService.onRevocation((event) => {
      events.push(event);
    });
  });
  afterAll(async () => app?.close());

  it('answered, then kept; the sessions are removed and the listeners told; the retry marks it applied, then a delivery is a replay', async () => {
    const who = { sub: `user-${randomUUID()}`, sid: `sid-${randomUUID()}` };
    const cookie = await loginAt(
      app.url,
      await signIdToken(keys, { iss: op.issuer, aud: 'app', ...who }),
    );
    const token = await signLogoutToken(keys, { issuer: op.issuer, clientId: 'app', ...who });
    repository.failing.add('complete');
    // The completion runs after the answer: the logout is applied (200), and its failed
    // completion kept pending (the claim still claimed), as a store failure is.
    const kept = await postLogoutToken(app.url, 'main', token);
    expect(kept.status).toBe(200);
    expect(await privateStatus(app.url, cookie)).toBe(401);
    expect(events.map((event) => event.sessions.length)).toEqual([1]);

    // The OP delivers it again while the store still fails: still not a replay (applied again,
    // nothing left to remove, not announced until completed).
    expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.map((event) => event.sessions.length)).toEqual([1]);
    const completionsBefore = () => repository.calls.filter((call) => call === 'complete').length;
    const failed = completionsBefore();
    repository.failing.clear();
    // Once the store answers, the kept logout is applied again (nothing left to remove) and marked.
    const deadline = Date.now() + 5_000;
    while (completionsBefore() <= failed) {
      if (Date.now() > deadline) throw new Error('the kept logout was not retried');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(events.map((event) => event.sessions.length)).toEqual([1, 0]);
    const replay = await postLogoutToken(app.url, 'main', token);
    expect(replay.status).toBe(200);
    const completions = repository.calls.filter((call) => call === 'complete').length;
    expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);
    // A replay: neither completed again nor announced again.
    expect(repository.calls.filter((call) => call === 'complete')).toHaveLength(completions);
    // The listeners heard of the removed session once, and of the completed retry (nothing left).
    expect(events.map((event) => event.sessions.length)).toEqual([1, 0]);
  });
});
