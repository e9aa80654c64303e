import request from 'supertest';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId, hashSid } from '../../lib/repositories/session-id-hash';
import { announceDatabase, createTestDataSource, type DatabaseKind } from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { craftUnsignedJwt, signIdToken } from '../fixtures/tokens';

type Backend = 'memory' | DatabaseKind;
const backends: Backend[] = ['memory', 'sqlite', 'postgres', 'mariadb'];
const CLIENT_ID = 'app-a';

describe.each(backends)('OidcSessionGuard with the %s repository', (backend) => {
  if (backend !== 'memory' && !announceDatabase(backend, 'OidcSessionGuard e2e')) {
    it.skip(`needs OIDC_LOGOUT_TEST_${backend.toUpperCase()}=1 and a local ${backend} server`, () => {});
    return;
  }

  let keys: TestKeySet;
  let op: FakeOp;
  let otherOp: FakeOp;
  let dataSource: DataSource | undefined;
  let testApp: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    otherOp = await startFakeOp({ keys });
    dataSource = backend === 'memory' ? undefined : await createTestDataSource(backend);
    testApp = await startTestApp({
      oidc: {
        clients: [
          { registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID },
          { registrationId: 'other-client', issuer: op.issuer, clientId: 'app-b' },
          { registrationId: 'other-op', issuer: otherOp.issuer, clientId: CLIENT_ID },
        ],
        loginUrl: '/login',
        ...(dataSource ? { dataSource } : {}),
      },
    });
  });

  afterAll(async () => {
    await testApp?.close();
    if (dataSource?.isInitialized) await dataSource.destroy();
    await op?.close();
    await otherOp?.close();
  });

  /** Logs a new browser in with a fresh ID token; returns its cookie jar. */
  async function login(claims: Record<string, unknown>, issuer = op.issuer, aud = CLIENT_ID) {
    const idToken = await signIdToken(keys, { iss: issuer, aud, ...claims });
    return (await logIn(testApp.url, idToken)).agent;
  }

  async function expectActive(agent: request.Agent) {
    await agent.get('/private').expect(200, { ok: true });
  }

  async function expectEnded(agent: request.Agent) {
    const response = await agent.get('/private').set('Accept', 'application/json').expect(401);
    expect(response.body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'Your session has ended; log in again',
    });
  }

  /** The same refusal, worded for a visitor who never logged in (no session was ended). */
  async function expectSignIn(agent: request.Agent) {
    const response = await agent.get('/private').set('Accept', 'application/json').expect(401);
    expect(response.body).toEqual({
      statusCode: 401,
      error: 'Unauthorized',
      message: 'Sign in to continue',
    });
  }

  it('refuses a request that never logged in, without telling it a session ended, and lets public routes through', async () => {
    const agent = request.agent(testApp.url);
    await expectSignIn(agent);
    // A session that exists (saveUninitialized) but never held a login: the same answer.
    await agent.get('/test/session').expect(200);
    await expectSignIn(agent);
    await agent.get('/public').expect(200, { ok: true });
  });

  it('passes a recorded login and stores only the hashed session id', async () => {
    const agent = await login({ sub: 'alice', sid: 'sid-store' });
    await expectActive(agent);
    const { id } = (await agent.get('/test/session').expect(200)).body as { id: string };
    const record = await testApp.repository.findByClientSessionId(hashSessionId(id));
    expect(record).toMatchObject({
      registrationId: 'main',
      sub: 'alice',
      sid: hashSid('sid-store'),
    });
    expect(await testApp.repository.findByClientSessionId(id)).toBeUndefined();
    if (dataSource) {
      const rows: unknown[] = await dataSource.query('SELECT * FROM oidc_sessions');
      expect(JSON.stringify(rows)).not.toContain(id);
      // The sid is stored as its digest too.
      expect(rows.map((row) => (row as { sid: unknown }).sid)).toContain(hashSid('sid-store'));
      expect(rows.map((row) => (row as { sid: unknown }).sid)).not.toContain('sid-store');
    }
  });

  it('revokes by sid: that OP session only', async () => {
    const target = await login({ sub: 'bob', sid: 'sid-bob-1' });
    const sameUserOtherSession = await login({ sub: 'bob', sid: 'sid-bob-2' });
    const otherUser = await login({ sub: 'carol', sid: 'sid-carol' });
    const otherClient = await login({ sub: 'bob', sid: 'sid-bob-1' }, op.issuer, 'app-b');
    const otherIssuer = await login({ sub: 'bob', sid: 'sid-bob-1' }, otherOp.issuer);

    const removed = await testApp.logoutService.revoke({
      registrationId: 'main',
      sid: 'sid-bob-1',
    });

    expect(removed.map((s) => [s.sub, s.sid, s.clientId])).toEqual([
      ['bob', hashSid('sid-bob-1'), CLIENT_ID],
    ]);
    await expectEnded(target);
    for (const agent of [sameUserOtherSession, otherUser, otherClient, otherIssuer]) {
      await expectActive(agent);
    }
  });

  it('revokes by sub: every session of that user at that issuer and client', async () => {
    const first = await login({ sub: 'dave', sid: 'sid-dave-1' });
    const second = await login({ sub: 'dave', sid: 'sid-dave-2' });
    const otherUser = await login({ sub: 'erin', sid: 'sid-erin' });
    const otherClient = await login({ sub: 'dave', sid: 'sid-dave-3' }, op.issuer, 'app-b');
    const otherIssuer = await login({ sub: 'dave', sid: 'sid-dave-4' }, otherOp.issuer);

    const removed = await testApp.logoutService.revoke({ registrationId: 'main', sub: 'dave' });

    expect(removed.map((s) => s.sid).sort()).toEqual(
      [hashSid('sid-dave-1'), hashSid('sid-dave-2')].sort(),
    );
    await expectEnded(first);
    await expectEnded(second);
    for (const agent of [otherUser, otherClient, otherIssuer]) await expectActive(agent);
  });

  it('revokes by issuer across every registration of that OP, and no other OP', async () => {
    const mainClient = await login({ sub: 'frank', sid: 'sid-frank' });
    const otherClient = await login({ sub: 'frank', sid: 'sid-frank' }, op.issuer, 'app-b');
    const otherIssuer = await login({ sub: 'frank', sid: 'sid-frank' }, otherOp.issuer);

    const removed = await testApp.logoutService.revoke({ issuer: op.issuer, sub: 'frank' });

    expect(removed.map((s) => s.clientId).sort()).toEqual([CLIENT_ID, 'app-b']);
    await expectEnded(mainClient);
    await expectEnded(otherClient);
    await expectActive(otherIssuer);
  });

  it('destroys the local session of a revoked login', async () => {
    const agent = await login({ sub: 'gina', sid: 'sid-gina' });
    const before = (await agent.get('/test/session').expect(200)).body as { id: string };
    await testApp.logoutService.revoke({ registrationId: 'main', sid: 'sid-gina' });
    await expectEnded(agent);
    const after = (await agent.get('/test/session').expect(200)).body as { id: string };
    expect(after.id).not.toBe(before.id);
    // The new session never held a login.
    await expectSignIn(agent);
  });

  it('redirects a browser navigation to loginUrl once the session has ended', async () => {
    const agent = await login({ sub: 'hank', sid: 'sid-hank' });
    await testApp.logoutService.revoke({ registrationId: 'main', sid: 'sid-hank' });
    const response = await agent
      .get('/private')
      .set('Accept', 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8')
      .expect(302);
    expect(response.headers.location).toBe('/login');
  });

  it('a revocation that matches nothing returns [] and ends nobody', async () => {
    const agent = await login({ sub: 'ivan', sid: 'sid-ivan' });
    expect(await testApp.logoutService.revoke({ registrationId: 'main', sid: 'unknown' })).toEqual(
      [],
    );
    expect(await testApp.logoutService.revoke({ registrationId: 'main', sub: 'unknown' })).toEqual(
      [],
    );
    await expectActive(agent);
  });

  describe('recordLogin refuses an ID token that does not verify, and records nothing', () => {
    const cases: Array<[string, (k: TestKeySet) => Promise<string>, string]> = [
      [
        'signed by a key the OP does not publish',
        (k) => signIdToken(k, { iss: op.issuer, aud: CLIENT_ID }, { key: k.rsaUnpublished }),
        'ERR_ID_TOKEN_INVALID',
      ],
      [
        'for another client',
        (k) => signIdToken(k, { iss: op.issuer, aud: 'someone-else' }),
        'ERR_UNKNOWN_REGISTRATION',
      ],
      [
        'from an unknown issuer',
        (k) => signIdToken(k, { iss: 'https://evil.example', aud: CLIENT_ID }),
        'ERR_UNKNOWN_REGISTRATION',
      ],
      [
        'expired',
        (k) => signIdToken(k, { iss: op.issuer, aud: CLIENT_ID, iat: 1_000_000, exp: 1_000_300 }),
        'ERR_ID_TOKEN_INVALID',
      ],
      [
        'with alg none',
        () =>
          Promise.resolve(
            craftUnsignedJwt(
              { alg: 'none' },
              { iss: op.issuer, aud: CLIENT_ID, sub: 'x', iat: 1, exp: 9e9 },
            ),
          ),
        'ERR_ID_TOKEN_INVALID',
      ],
      ['that is not a JWT', () => Promise.resolve('not-a-jwt'), 'ERR_ID_TOKEN_INVALID'],
    ];

    it.each(cases)('%s', async (_name, makeToken, code) => {
      const agent = request.agent(testApp.url);
      const response = await agent
        .post('/test/login')
        .send({ idToken: await makeToken(keys) })
        .expect(400);
      expect(response.body).toEqual({ code });
      const { id } = (await agent.get('/test/session').expect(200)).body as { id: string };
      expect(await testApp.repository.findByClientSessionId(hashSessionId(id))).toBeUndefined();
      // Refused, as a visitor who never logged in (no login was recorded).
      await expectSignIn(agent);
    });
  });
});
