import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InMemoryOidcLogoutEventStore,
  type OidcLogoutEventBegin,
  type OidcLogoutEventOutcome,
} from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { isActive, tryLogIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { nowSeconds, signIdToken, signLogoutToken } from '../fixtures/tokens';
import { expectRejected, STORE_UNAVAILABLE_KEPT } from '../fixtures/back-channel-answers';

/**
 * The time claims of logout and ID tokens (RFC 7519 NumericDate: fractions allowed), over HTTP with
 * tokens signed by the test OP's keys: fractions are accepted and applied, absurd values are refused
 * with a plain 400 naming the claim (never "store unavailable", never kept pending), `nbf` is
 * honoured with the clock tolerance, and an ID token issued in the future cannot log in.
 */

const CLIENT = { registrationId: 'main', clientId: 'app-times' };
/** The module's default clock tolerance. */
const TOLERANCE_SECONDS = 30;

let keys: TestKeySet;
let op: FakeOp;
let testApp: TestApp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  testApp = await startTestApp({ oidc: { clients: [{ ...CLIENT, issuer: op.issuer }] } });
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

/** How many verified logouts this instance keeps pending (it should keep none here). */
function pendingCount(): number {
  return testApp.logoutService.pendingLogouts.count;
}

async function login(sub: string, sid: string, claims: Record<string, unknown> = {}) {
  const idToken = await signIdToken(keys, {
    iss: op.issuer,
    aud: CLIENT.clientId,
    sub,
    sid,
    ...claims,
  });
  return tryLogIn(testApp.url, idToken);
}

async function loggedIn(sub: string, sid: string) {
  const { agent, response } = await login(sub, sid);
  expect(response.status).toBe(200);
  return agent;
}

function postLogoutToken(token: string) {
  return request(testApp.url)
    .post(`/logout/connect/back-channel/${CLIENT.registrationId}`)
    .set('Content-Type', 'application/x-www-form-urlencoded')
    .send(`logout_token=${encodeURIComponent(token)}`);
}

function logoutToken(sub: string, sid: string | undefined, claims: Record<string, unknown>) {
  return signLogoutToken(keys, {
    issuer: op.issuer,
    clientId: CLIENT.clientId,
    sub,
    ...(sid === undefined ? { claims: { sid: undefined, ...claims } } : { sid, claims }),
  });
}

/** A user with two sessions (two OP sessions) and another user's session. */
async function scene() {
  const sub = `user-${randomUUID()}`;
  const sid = `sid-${randomUUID()}`;
  return {
    sub,
    sid,
    target: await loggedIn(sub, sid),
    sameUser: await loggedIn(sub, `sid-${randomUUID()}`),
    otherUser: await loggedIn(`user-${randomUUID()}`, `sid-${randomUUID()}`),
  };
}

function expectRefused(response: request.Response, claim: string) {
  expect(response.status).toBe(400);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.body).toEqual({
    error: 'invalid_request',
    error_description: expect.stringContaining(claim) as unknown,
  });
  expect(String((response.body as { error_description: string }).error_description)).not.toMatch(
    /store/i,
  );
}

describe('logout tokens: NumericDate with a fraction is accepted and applied', () => {
  const now = () => nowSeconds() + 0.5;
  const cases: [string, () => Record<string, unknown>][] = [
    ['iat with a fraction', () => ({ iat: now() - 1.25, exp: now() + 120 - 1 })],
    ['exp with a fraction', () => ({ iat: nowSeconds(), exp: now() + 119.75 })],
    ['iat, exp and nbf with fractions', () => ({ iat: now(), exp: now() + 120, nbf: now() - 1 })],
  ];

  it.each(cases)('sid and sub: %s', async (_name, claims) => {
    const s = await scene();
    const response = await postLogoutToken(await logoutToken(s.sub, s.sid, claims()));
    expect(response.status).toBe(200);
    expect(response.text).toBe('');
    expect(await isActive(s.target)).toBe(false);
    expect(await isActive(s.sameUser)).toBe(true);
    expect(await isActive(s.otherUser)).toBe(true);
    expect(pendingCount()).toBe(0);
  });

  it('sub only, iat with a fraction: every session of the user ends, and a login issued before it stays refused', async () => {
    const s = await scene();
    const iat = nowSeconds() + 0.4;
    const response = await postLogoutToken(
      await logoutToken(s.sub, undefined, { iat, exp: iat + 120 }),
    );
    expect(response.status).toBe(200);
    expect(await isActive(s.target)).toBe(false);
    expect(await isActive(s.sameUser)).toBe(false);
    expect(await isActive(s.otherUser)).toBe(true);
    expect(pendingCount()).toBe(0);
    // A login whose ID token was issued before the logout (in the same second) is refused.
    const late = await login(s.sub, `sid-${randomUUID()}`, { iat: iat - 0.2 });
    expect(late.response.status).toBe(400);
    expect(late.response.body).toEqual({ code: 'ERR_SESSION_ENDED' });
  });
});

describe('logout tokens: absurd NumericDates are refused with a 400 naming the claim', () => {
  const cases: [string, string, () => Record<string, unknown>][] = [
    ['exp 1e13 (an invalid Date)', 'exp', () => ({ exp: 1e13 })],
    ['exp after the year 9999', 'exp', () => ({ exp: 253_402_300_800 })],
    ['iat negative', 'iat', () => ({ iat: -1, exp: nowSeconds() + 120 })],
    ['nbf 1e13', 'nbf', () => ({ nbf: 1e13 })],
    ['nbf a string', 'nbf', () => ({ nbf: String(nowSeconds()) })],
  ];

  it.each(cases)('%s', async (_name, claim, claims) => {
    const s = await scene();
    const response = await postLogoutToken(await logoutToken(s.sub, s.sid, claims()));
    expectRefused(response, claim);
    expect(await isActive(s.target)).toBe(true);
    expect(await isActive(s.sameUser)).toBe(true);
    expect(await isActive(s.otherUser)).toBe(true);
    expect(pendingCount()).toBe(0);
  });
});

describe('logout tokens: nbf is honoured with the clock tolerance', () => {
  it('refuses a token not valid before a minute from now, revoking nothing', async () => {
    const s = await scene();
    const iat = nowSeconds();
    const response = await postLogoutToken(
      await logoutToken(s.sub, s.sid, { iat, exp: iat + 600, nbf: iat + 60 + TOLERANCE_SECONDS }),
    );
    expectRefused(response, 'nbf');
    expect(await isActive(s.target)).toBe(true);
    expect(await isActive(s.sameUser)).toBe(true);
    expect(pendingCount()).toBe(0);
  });

  it('accepts a token whose nbf is within the tolerance ahead', async () => {
    const s = await scene();
    const iat = nowSeconds();
    const response = await postLogoutToken(
      await logoutToken(s.sub, s.sid, { iat, nbf: iat + TOLERANCE_SECONDS - 10 }),
    );
    expect(response.status).toBe(200);
    expect(await isActive(s.target)).toBe(false);
    expect(await isActive(s.sameUser)).toBe(true);
  });
});

describe('ID tokens at login', () => {
  it('accepts iat, exp, nbf and auth_time with fractions', async () => {
    const now = nowSeconds() + 0.5;
    const { agent, response } = await login(`user-${randomUUID()}`, `sid-${randomUUID()}`, {
      iat: now - 0.25,
      exp: now + 299.5,
      nbf: now - 0.75,
      auth_time: now - 10.5,
    });
    expect(response.status).toBe(200);
    expect(await isActive(agent)).toBe(true);
  });

  const refused: [string, () => Record<string, unknown>][] = [
    ['iat an hour in the future', () => ({ iat: nowSeconds() + 3_600 })],
    ['iat a year in the future', () => ({ iat: nowSeconds() + 365 * 86_400 })],
    [
      'iat beyond the clock tolerance',
      () => ({ iat: nowSeconds() + TOLERANCE_SECONDS + 15, exp: nowSeconds() + 300 }),
    ],
    ['nbf a minute beyond the tolerance', () => ({ nbf: nowSeconds() + TOLERANCE_SECONDS + 60 })],
    ['exp 1e13', () => ({ exp: 1e13 })],
    ['auth_time 1e13', () => ({ auth_time: 1e13 })],
    ['iat negative', () => ({ iat: -5, exp: nowSeconds() + 300 })],
  ];

  it.each(refused)('refuses %s, and records nothing', async (_name, claims) => {
    const { agent, response } = await login(
      `user-${randomUUID()}`,
      `sid-${randomUUID()}`,
      claims(),
    );
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_ID_TOKEN_INVALID' });
    expect(await isActive(agent)).toBe(false);
  });

  it('a sub-only logout still ends a login in flight whose ID token claims a future iat', async () => {
    // Before the fix, an ID token with iat a year ahead was accepted and its iat outlived every
    // sub-only tombstone (the login compares its iat against the logout's).
    const sub = `user-${randomUUID()}`;
    const iat = nowSeconds();
    const logout = await postLogoutToken(
      await logoutToken(sub, undefined, { iat, exp: iat + 120 }),
    );
    expect(logout.status).toBe(200);
    const { agent, response } = await login(sub, `sid-${randomUUID()}`, {
      iat: iat + 365 * 86_400,
    });
    expect(response.status).toBe(400);
    expect(response.body).toEqual({ code: 'ERR_ID_TOKEN_INVALID' });
    expect(await isActive(agent)).toBe(false);
  });
});

describe('whatever the store itself throws is a store failure, never a lost logout', () => {
  /**
   * The in-memory event store, failing its claim and tombstone writes with a TypeError while `failing` is set:
   * what a store client reports for a network failure (`fetch` throws a TypeError). The library's
   * own arguments are checked before the store is called (the checked store), so an error from the
   * store is the store's: the logout must be kept, not dropped as a bad request.
   */
  class ThrowingRepository extends InMemoryOidcLogoutEventStore {
    failing = true;
    override begin(event: OidcLogoutEventBegin): Promise<OidcLogoutEventOutcome> {
      if (this.failing) return Promise.reject(new TypeError('fetch failed'));
      return super.begin(event);
    }
  }

  const repository = new ThrowingRepository();
  let throwing: TestApp;
  beforeAll(async () => {
    throwing = await startTestApp({
      oidc: { clients: [{ ...CLIENT, issuer: op.issuer }], logoutEventStore: repository },
    });
  });
  afterAll(async () => {
    await throwing?.close();
  });

  it('answers 400 "kept", refuses the session meanwhile, and applies the logout once the store answers', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const agent = request.agent(throwing.url);
    const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT.clientId, sub, sid });
    await agent.post('/test/login').send({ idToken }).expect(200);
    const bystander = request.agent(throwing.url);
    const other = await signIdToken(keys, {
      iss: op.issuer,
      aud: CLIENT.clientId,
      sub: `user-${randomUUID()}`,
      sid: `sid-${randomUUID()}`,
    });
    await bystander.post('/test/login').send({ idToken: other }).expect(200);
    const token = await logoutToken(sub, sid, {});
    const response = await request(throwing.url)
      .post(`/logout/connect/back-channel/${CLIENT.registrationId}`)
      .set('Content-Type', 'application/x-www-form-urlencoded')
      .send(`logout_token=${encodeURIComponent(token)}`);
    expectRejected(response, STORE_UNAVAILABLE_KEPT);
    const pending = () => throwing.logoutService.pendingLogouts.count;
    expect(pending()).toBe(1);
    // Kept, not lost: this instance refuses the session meanwhile, the bystander passes.
    expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(401);
    expect((await bystander.get('/private').set('Accept', 'application/json')).status).toBe(200);
    repository.failing = false;
    for (let waited = 0; pending() !== 0 && waited < 5_000; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(pending()).toBe(0);
    // Applied in the store now (nothing pending refuses it any more): the session stays refused.
    expect((await agent.get('/private').set('Accept', 'application/json')).status).toBe(401);
    expect((await bystander.get('/private').set('Accept', 'application/json')).status).toBe(200);
  });
});
