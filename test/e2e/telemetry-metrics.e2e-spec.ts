/**
 * The library's metrics with the real OpenTelemetry SDK (installed through the global API before
 * the app is created, as an application does), over real HTTP to a real Nest app and a fake OP:
 * each flow, each refusal reason of the token catalogue and a JWKS outage move exactly the right
 * series by exactly the right amount, and no attribute carries a token, a session id, a sid or a
 * sub. The store's outage: telemetry-store-faults.e2e-spec.ts; spans: telemetry-traces.e2e-spec.ts.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { MeterProvider } from '@opentelemetry/sdk-metrics';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_JWKS_COOLDOWN_MS } from '../../lib/tokens/jwks-key-set';
import { expectedRejection } from '../fixtures/back-channel-answers';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKey, type TestKeySet } from '../fixtures/keys';
import {
  getFrontChannel,
  loginAt,
  postLogoutToken,
  postRpLogout,
  privateStatus,
} from '../fixtures/session-client';
import {
  attributeValues,
  expectNoIdentifiers,
  installMetrics,
  fetchSeries,
  guardSeries,
  METRICS,
  requestSeries,
  revokedSeries,
  sessionIdOfCookie,
  storeSeries,
  verificationSeries,
  uninstallMetrics,
  type MetricsProbe,
} from '../fixtures/telemetry';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import {
  logoutTokenVariants,
  signIdToken,
  signLogoutToken,
  type Overrides,
} from '../fixtures/tokens';
import { until } from '../fixtures/until';

const MAIN = { registrationId: 'main', clientId: 'app-main' };
const STRICT = { registrationId: 'strict', clientId: 'app-strict' };
const LEGACY = { registrationId: 'legacy', clientId: 'app-legacy' };
const CLOSED = { registrationId: 'closed', clientId: 'app-closed' };
type Client = typeof MAIN;
const CLIENT_SECRET = 'a-client-secret-that-is-long-enough-for-hs256';

const { requests: REQUESTS, revoked: REVOKED, verification: VERIFICATION, store: STORE } = METRICS;
const request = requestSeries;
const revoked = (channel: string) => revokedSeries(channel, MAIN.registrationId);
const decided = (result: string, count = 1) => guardSeries(result, count);
const verified = (registration = MAIN.registrationId, type?: string) =>
  verificationSeries(registration, type);
const fetched = fetchSeries;

let keys: TestKeySet;
let op: FakeOp;
let app: TestApp;
let meterProvider: MeterProvider | undefined;
let probe: MetricsProbe;
/** Every token, session id, sid and sub the tests used: none may be in an attribute. */
const secrets: string[] = [];

beforeAll(async () => {
  ({ probe, provider: meterProvider } = installMetrics());
  await probe.mark();
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  app = await startTestApp({
    oidc: {
      clients: [
        { ...MAIN, issuer: op.issuer },
        { ...STRICT, issuer: op.issuer, backChannel: { sessionRequired: true } },
        { ...LEGACY, issuer: op.issuer, legacyLogoutTokens: true },
        { ...CLOSED, issuer: op.issuer, backChannel: false },
      ],
    },
  });
});

afterAll(async () => {
  await app?.close();
  await op?.close();
  await uninstallMetrics(meterProvider);
});

/** A browser logged in at `client` in OP session `sid` of user `sub` (new ones by default). */
async function login(client: Client = MAIN, sub = `user-${randomUUID()}`, sid = randomUUID()) {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: client.clientId, sub, sid });
  const cookie = await loginAt(app.url, idToken);
  secrets.push(sub, sid, idToken, sessionIdOfCookie(cookie));
  return { cookie, sub, sid };
}

async function logoutToken(
  user: { sub: string; sid: string },
  client: Client = MAIN,
  options: { key?: TestKey; claims?: Overrides } = {},
) {
  const token = await signLogoutToken(keys, {
    issuer: op.issuer,
    clientId: client.clientId,
    ...user,
    ...options,
  });
  secrets.push(token);
  return token;
}

it('the app starts and logs a user in: one discovery fetch per registration, one JWKS fetch', async () => {
  await login();
  const everyDiscovery = Object.fromEntries(
    [MAIN, STRICT, LEGACY, CLOSED].map((c) => [fetched('discovery', c.registrationId), 1]),
  );
  // Discovery starts at bootstrap, without waiting: the other registrations' may still run.
  await until(async () => Object.keys(await probe.changes([STORE])).length === 5, 5_000);
  expect(await probe.changes([STORE])).toEqual({
    ...everyDiscovery,
    [fetched('jwks', MAIN.registrationId)]: 1,
  });
});

it('a login and a logout time each store operation, by store and operation', async () => {
  const store = storeSeries;
  await probe.mark();
  const user = await login();
  // A login saves its record, then looks for tombstones of logouts that came first.
  expect(await probe.changes()).toEqual({
    [store('sessions', 'save')]: 1,
    [store('logout_events', 'findTombstones')]: 1,
  });
  await probe.mark();
  expect((await postLogoutToken(app.url, 'main', await logoutToken(user))).status).toBe(200);
  // A logout claims its jti, removes the OP session's records, and completes its claim (the
  // in-memory stores: right after the answer).
  const completed = store('logout_events', 'complete');
  await until(async () => (await probe.changes())[completed] === 1, 5_000);
  expect(await probe.changes([REQUESTS, REVOKED, VERIFICATION])).toEqual({
    [store('logout_events', 'begin')]: 1,
    [store('sessions', 'removeByLogoutToken')]: 1,
    [store('logout_events', 'complete')]: 1,
  });
});

describe('each flow moves exactly its series', () => {
  it('back-channel: applied, then the same token replayed; the guard refuses the session', async () => {
    const user = await login();
    await login(MAIN, user.sub, user.sid); // a second app session in the same OP session
    const other = await login(MAIN, user.sub);
    const token = await logoutToken(user);
    await probe.mark();
    expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'applied', 'main')]: 1,
      [revoked('back-channel')]: 2,
      [verified()]: 1,
    });
    await probe.mark();
    expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'replayed', 'main')]: 1,
      [verified()]: 1,
    });
    await probe.mark();
    expect(await privateStatus(app.url, user.cookie)).toBe(401);
    expect(await privateStatus(app.url, other.cookie)).toBe(200);
    expect(await probe.changes([STORE])).toEqual({ ...decided('revoked'), ...decided('active') });
  });

  it('front-channel: applied, its sessions revoked', async () => {
    const user = await login();
    await probe.mark();
    expect(await getFrontChannel(app.url, 'main', op.issuer, user.sid)).toBe(200);
    expect(await probe.changes([STORE])).toEqual({
      [request('front-channel', 'applied', 'main')]: 1,
      [revoked('front-channel')]: 1,
    });
  });

  it('RP-initiated: applied, one session revoked', async () => {
    const user = await login();
    await probe.mark();
    const answer = await postRpLogout(app.url, user.cookie);
    expect(answer.status).toBe(302);
    expect(answer.location?.startsWith(`${op.endSessionEndpoint}?`)).toBe(true);
    expect(await probe.changes([STORE])).toEqual({
      [request('rp-initiated', 'applied', 'main')]: 1,
      [revoked('rp-initiated')]: 1,
    });
  });

  it('the guard: active, unknown (no login), and nothing for a skipped route', async () => {
    const user = await login();
    await probe.mark();
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
    expect(await privateStatus(app.url, '')).toBe(401);
    expect((await fetch(`${app.url}/public`, { headers: { cookie: user.cookie } })).status).toBe(
      200,
    );
    expect(await probe.changes([STORE])).toEqual({
      ...decided('active', 2),
      ...decided('unknown'),
    });
  });
});

describe('each refusal moves result=refused with its reason, and revokes nothing', () => {
  const refusals = logoutTokenVariants.filter(
    (v) => !v.valid && v.name !== 'invalid: empty string',
  );
  const REFETCHING = [
    'invalid: signed with an unpublished key',
    "invalid: RS256 under the EC key's kid 'ec-1'",
  ];

  it.each(refusals.map((v) => [v.name, v] as const))('%s', async (_name, variant) => {
    const user = await login();
    const context = op.context({ clientId: MAIN.clientId, ...user, clientSecret: CLIENT_SECRET });
    const token = await variant.build(context);
    secrets.push(token);
    // No usable key under the token's kid: the app fetches the JWKS again (after the cooldown).
    const refetch = REFETCHING.includes(variant.name);
    await probe.mark();
    const response = await postLogoutToken(app.url, 'main', token);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: 'invalid_request',
      error_description: expectedRejection(variant.name),
    });
    const reason = /^Logout token rejected \(([a-z_]+)\)/.exec(
      (response.body as { error_description: string }).error_description,
    )?.[1];
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'refused', 'main', reason)]: 1,
      [verified('main', reason)]: 1,
      ...(refetch ? { [fetched('jwks', 'main')]: 1 } : {}),
    });
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
  });

  it.each([
    ['sid_missing', STRICT, { sid: undefined }, { [verified('strict')]: 1 }],
    ['too_old', LEGACY, { exp: undefined, iat: Math.floor(Date.now() / 1000) - 86_400 }, {}],
    ['back_channel_disabled', CLOSED, {}, {}],
  ] as const)('%s', async (reason, client, claims, more) => {
    const user = await login(client);
    const token = await logoutToken(user, client, { claims });
    await probe.mark();
    const response = await postLogoutToken(app.url, client.registrationId, token);
    expect(response.status).toBe(400);
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'refused', client.registrationId, reason)]: 1,
      ...(reason === 'too_old' ? { [verified(client.registrationId, reason)]: 1 } : more),
    });
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
  });

  it('an unknown registration, a GET, another content type, an empty token: no registration named', async () => {
    const user = await login();
    const token = await logoutToken(user);
    const unknown = `nope-${randomUUID()}`;
    secrets.push(unknown);
    await probe.mark();
    expect((await postLogoutToken(app.url, unknown, token)).status).toBe(400);
    const url = `${app.url}/logout/connect/back-channel/main`;
    expect((await fetch(url)).status).toBe(400);
    const json = { 'content-type': 'application/json' };
    expect((await fetch(url, { method: 'POST', headers: json, body: '{}' })).status).toBe(400);
    expect((await postLogoutToken(app.url, 'main', '')).status).toBe(400);
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'refused', undefined, 'unknown_registration')]: 1,
      [request('back-channel', 'refused', 'main', 'method')]: 1,
      [request('back-channel', 'refused', 'main', 'content_type')]: 1,
      [request('back-channel', 'refused', 'main', 'body')]: 1,
    });
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
  });
});

it('the JWKS is down: a token of a new key is answered 400 jwks_unavailable, the request and the fetch counted failed', async () => {
  const user = await login();
  const rotated = await op.rotateKeys();
  op.controls.failJwks = 503;
  try {
    await sleep(DEFAULT_JWKS_COOLDOWN_MS + 200);
    const token = await logoutToken(user, MAIN, { key: rotated });
    await probe.mark();
    const response = await postLogoutToken(app.url, 'main', token);
    expect(response.status).toBe(400);
    expect(response.body).toEqual({
      error: 'invalid_request',
      error_description: expect.stringMatching(/^Logout token rejected \(jwks_unavailable\): /),
    });
    expect(await probe.changes([STORE])).toEqual({
      [request('back-channel', 'failed', 'main', 'jwks_unavailable')]: 1,
      [verified('main', 'jwks_unavailable')]: 1,
      [fetched('jwks', 'main', 'ERR_JWKS_UNAVAILABLE')]: 1,
    });
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
  } finally {
    op.controls.failJwks = false;
  }
});

it('no attribute of any metric carries a token, a session id, a sid or a sub', async () => {
  const values = attributeValues(await probe.points());
  expect(values).toContain('main');
  expectNoIdentifiers(values, secrets);
});
