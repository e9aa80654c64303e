import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import {
  expectedRejection,
  expectRejected,
  STORE_UNAVAILABLE_KEPT,
} from '../fixtures/back-channel-answers';
import { logIn } from '../fixtures/login';
import { RecordingRepository } from '../fixtures/recording-repository';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { logoutTokenVariants, signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';

let keys: TestKeySet;
let op: FakeOp;
let repository: RecordingRepository;
let testApp: TestApp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  repository = new RecordingRepository();
  testApp = await startTestApp({
    oidc: {
      clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
      sessionRepository: repository,
      logoutEventStore: repository.events,
    },
  });
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

beforeEach(() => {
  repository.failing.clear();
  op.controls.failJwks = false;
  op.controls.failDiscovery = false;
});

async function login(sub: string, sid: string) {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
  return (await logIn(testApp.url, idToken)).agent;
}

const post = (token: string) =>
  request(testApp.url)
    .post('/logout/connect/back-channel/main')
    .type('form')
    .send({ logout_token: token });

describe('back-channel logout validates completely before it touches the store', () => {
  const invalid = logoutTokenVariants.filter((v) => !v.valid);

  it.each(invalid.map((v) => [v.name, v] as const))(
    '%s: no repository call at all',
    async (_n, variant) => {
      const token = await variant.build(
        op.context({ clientId: CLIENT_ID, sid: 'sid-x', sub: 'user-x', clientSecret: 'secret' }),
      );
      repository.calls.length = 0;
      const response = await post(token);
      expect(response.status).toBe(400);
      expect(response.body).toEqual({
        error: 'invalid_request',
        error_description: expectedRejection(variant.name),
      });
      expect(repository.calls).toEqual([]);
    },
  );
});

describe('back-channel logout when something fails', () => {
  it('a failing store answers 400 (never 5xx) and keeps the logout; the retried token is acknowledged once it is back', async () => {
    const sid = `sid-${randomUUID()}`;
    const agent = await login('alice', sid);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      sid,
      sub: 'alice',
    });

    repository.failing.add('removeByLogoutToken');
    const failed = await post(token);
    expectRejected(failed, STORE_UNAVAILABLE_KEPT);

    repository.failing.clear();
    expect((await post(token)).status).toBe(200);
    await agent.get('/private').expect(401);
  });

  it('a store that cannot answer at all: 400 to the OP, 503 from the guard (fail closed)', async () => {
    const sid = `sid-${randomUUID()}`;
    const agent = await login('bob', sid);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      sid,
      sub: 'bob',
    });
    for (const call of ['begin', 'removeByLogoutToken', 'find'] as const) {
      repository.failing.add(call);
    }
    const failed = await post(token);
    expectRejected(failed, STORE_UNAVAILABLE_KEPT);
    await agent.get('/private').expect(503);
    repository.failing.clear();
    expect((await post(token)).status).toBe(200);
    await agent.get('/private').expect(401);
  });

  it('an OP whose JWKS is down: a token signed by a key not cached yet is refused with 400, nothing revoked', async () => {
    const sid = `sid-${randomUUID()}`;
    const agent = await login('carol', sid);
    const rotated = await op.rotateKeys();
    op.controls.failJwks = true;
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      sid,
      sub: 'carol',
      key: rotated,
    });
    const response = await post(token);
    expectRejected(
      response,
      expect.stringMatching(/^Logout token rejected \(jwks_unavailable\): /),
    );
    await agent.get('/private').expect(200);
  }, 20_000);

  it("an OP whose discovery is down from the app's start: 400, the token is not verified, nothing revoked", async () => {
    // The session is recorded through the app whose discovery is up; a second app on the same
    // store starts while discovery fails, so its first fetch fails and the back-channel meets it.
    const sid = `sid-${randomUUID()}`;
    const agent = await login('dave', sid);
    op.controls.failDiscovery = 503;
    const fresh = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
        sessionRepository: repository,
        logoutEventStore: repository.events,
      },
    });
    try {
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sid,
        sub: 'dave',
      });
      repository.calls.length = 0;
      const response = await request(fresh.url)
        .post('/logout/connect/back-channel/main')
        .type('form')
        .send({ logout_token: token });
      expectRejected(
        response,
        "the OP's metadata or keys are unavailable; the token could not be verified",
      );
      expect(repository.calls).toEqual([]);
    } finally {
      await fresh.close();
    }
    op.controls.failDiscovery = false;
    await agent.get('/private').expect(200);
  }, 20_000);
});
