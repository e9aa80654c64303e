/**
 * The library's spans with the real OpenTelemetry SDK (a `BasicTracerProvider` keeping ended spans
 * in memory, the async-hooks context manager), installed through the global API before the app is
 * created, over real HTTP to a real Nest app on a TypeORM (SQLite) store: one span per logout
 * request with the library's decision as attributes, and child spans for what it waits for (each
 * store call, the OP fetches), parented to it; none for the token's verification (the process's
 * own work) or for the calls of the in-memory stores (a map in the process). No span attribute
 * carries an identifier.
 */
import { randomUUID } from 'node:crypto';
import type {
  BasicTracerProvider,
  InMemorySpanExporter,
  ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { createTestDataSource, destroyTestDataSource } from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import {
  getFrontChannel,
  loginAt,
  privateStatus,
  postLogoutToken,
  postRpLogout,
} from '../fixtures/session-client';
import {
  attributeValues,
  expectNoIdentifiers,
  installTracing,
  sessionIdOfCookie,
  uninstallTracing,
} from '../fixtures/telemetry';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken, type Overrides } from '../fixtures/tokens';

const REGISTRATION = 'main';
const CLIENT_ID = 'app';
const ERROR = 2; // SpanStatusCode.ERROR

let keys: TestKeySet;
let op: FakeOp;
let dataSource: DataSource;
let app: TestApp;
let exporter: InMemorySpanExporter;
let tracerProvider: BasicTracerProvider | undefined;
const secrets: string[] = [];

beforeAll(async () => {
  ({ exporter, provider: tracerProvider } = installTracing());
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  dataSource = await createTestDataSource('sqlite');
  app = await startTestApp({
    oidc: {
      clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
      dataSource,
    },
  });
});

afterAll(async () => {
  await app?.close();
  if (dataSource) await destroyTestDataSource(dataSource);
  await op?.close();
  await uninstallTracing(tracerProvider);
});

beforeEach(() => exporter.reset());

async function login() {
  const sub = `user-${randomUUID()}`;
  const sid = randomUUID();
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
  const cookie = await loginAt(app.url, idToken);
  secrets.push(sub, sid, idToken, sessionIdOfCookie(cookie));
  return { cookie, sub, sid };
}

async function logoutToken(user: { sub: string; sid: string }, claims: Overrides = {}) {
  const token = await signLogoutToken(keys, {
    issuer: op.issuer,
    clientId: CLIENT_ID,
    ...user,
    claims,
  });
  secrets.push(token);
  return token;
}

/** The one span named so (the request's), with no parent: the test app has no HTTP tracing. */
function requestSpan(name: string): ReadableSpan {
  const spans = exporter.getFinishedSpans().filter((span) => span.name === name);
  expect(spans).toHaveLength(1);
  const span = spans[0] as ReadableSpan;
  expect(span.parentSpanContext).toBeUndefined();
  return span;
}

/**
 * Every other span, each a child of `parent` in its trace, as `name` and the attributes that tell
 * it apart (the store and its operation, the OP document, `error.type`), in the order they ended.
 */
function children(parent: ReadableSpan): Array<Record<string, unknown>> {
  const others = exporter.getFinishedSpans().filter((span) => span !== parent);
  for (const span of others) {
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.ended).toBe(true);
  }
  return others.map((span) => ({ name: span.name, ...span.attributes }));
}

const store = (name: string, operation: string) => ({
  name: 'oidc_logout store',
  'oidc_logout.store': name,
  'oidc_logout.store.operation': operation,
});

it('the first back-channel logout: its span, with the JWKS fetch and each store call under it', async () => {
  // No login yet: the keys are not cached, so the request fetches the JWKS (discovery ran at start).
  const token = await logoutToken({ sub: `user-${randomUUID()}`, sid: randomUUID() });
  expect((await postLogoutToken(app.url, REGISTRATION, token)).status).toBe(200);
  const span = requestSpan('oidc_logout back-channel');
  expect(span.attributes).toEqual({
    'oidc_logout.registration': REGISTRATION,
    'oidc_logout.channel': 'back-channel',
    'oidc_logout.result': 'applied',
  });
  expect(span.status.code).not.toBe(ERROR);
  expect(children(span)).toEqual([
    { name: 'oidc_logout fetch', 'oidc_logout.op.document': 'jwks' },
    store('logout_events', 'begin'),
    // TypeORM on one database completes the claim in the removal's own statement.
    store('sessions', 'removeByLogoutToken'),
  ]);
});

it('a back-channel logout of a logged-in user, then its replay', async () => {
  const user = await login();
  exporter.reset();
  const token = await logoutToken(user);
  expect((await postLogoutToken(app.url, REGISTRATION, token)).status).toBe(200);
  const applied = requestSpan('oidc_logout back-channel');
  expect(applied.attributes['oidc_logout.result']).toBe('applied');
  expect(children(applied)).toEqual([
    store('logout_events', 'begin'),
    store('sessions', 'removeByLogoutToken'),
  ]);

  exporter.reset();
  expect((await postLogoutToken(app.url, REGISTRATION, token)).status).toBe(200);
  const replayed = requestSpan('oidc_logout back-channel');
  expect(replayed.attributes['oidc_logout.result']).toBe('replayed');
  // The claim is found taken: nothing is removed again.
  expect(children(replayed)).toEqual([store('logout_events', 'begin')]);
});

it('a refused token: error.type on the request span, no store call', async () => {
  const user = await login();
  exporter.reset();
  const token = await logoutToken(user, { iss: 'https://evil.example.test' });
  expect((await postLogoutToken(app.url, REGISTRATION, token)).status).toBe(400);
  const span = requestSpan('oidc_logout back-channel');
  expect(span.attributes).toEqual({
    'oidc_logout.registration': REGISTRATION,
    'oidc_logout.channel': 'back-channel',
    'oidc_logout.result': 'refused',
    'error.type': 'iss_mismatch',
  });
  // A refusal is not a failure of the library.
  expect(span.status.code).not.toBe(ERROR);
  expect(children(span)).toEqual([]);
  expect(await privateStatus(app.url, user.cookie)).toBe(200);
});

it('a front-channel and an RP-initiated logout: their spans, with their store calls', async () => {
  const first = await login();
  exporter.reset();
  expect(await getFrontChannel(app.url, REGISTRATION, op.issuer, first.sid)).toBe(200);
  const front = requestSpan('oidc_logout front-channel');
  expect(front.attributes).toEqual({
    'oidc_logout.registration': REGISTRATION,
    'oidc_logout.channel': 'front-channel',
    'oidc_logout.result': 'applied',
  });
  // A front-channel logout leaves no tombstone and claims nothing: one removal.
  expect(children(front)).toEqual([store('sessions', 'removeByLogoutToken')]);

  const second = await login();
  exporter.reset();
  expect((await postRpLogout(app.url, second.cookie)).status).toBe(302);
  const rp = requestSpan('oidc_logout rp-initiated');
  expect(rp.attributes).toEqual({
    'oidc_logout.registration': REGISTRATION,
    'oidc_logout.channel': 'rp-initiated',
    'oidc_logout.result': 'applied',
  });
  // The login record, removed by the logout, then again as the app session is destroyed.
  expect(children(rp)).toEqual([
    store('sessions', 'removeByClientSessionId'),
    store('sessions', 'removeByClientSessionId'),
  ]);
});

it('no span attribute carries a token, a session id, a sid or a sub', async () => {
  const user = await login();
  await postLogoutToken(app.url, REGISTRATION, await logoutToken(user));
  const values = attributeValues([], exporter.getFinishedSpans());
  expect(values).toContain(REGISTRATION);
  expectNoIdentifiers(values, secrets);
});

it('the in-memory stores are work of the process: a back-channel logout on them has its span, no child', async () => {
  const memoryApp = await startTestApp({
    oidc: { clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }] },
  });
  try {
    const sub = `user-${randomUUID()}`;
    const sid = randomUUID();
    const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
    const cookie = await loginAt(memoryApp.url, idToken);
    secrets.push(sub, sid, idToken, sessionIdOfCookie(cookie));
    expect(await privateStatus(memoryApp.url, cookie)).toBe(200);
    // The keys: fetched by this app's first verification, before the measured logout.
    await postLogoutToken(
      memoryApp.url,
      REGISTRATION,
      await logoutToken({ sub, sid: randomUUID() }),
    );
    exporter.reset();
    expect(
      (await postLogoutToken(memoryApp.url, REGISTRATION, await logoutToken({ sub, sid }))).status,
    ).toBe(200);
    const span = requestSpan('oidc_logout back-channel');
    expect(span.attributes).toEqual({
      'oidc_logout.registration': REGISTRATION,
      'oidc_logout.channel': 'back-channel',
      'oidc_logout.result': 'applied',
    });
    expect(children(span)).toEqual([]);
    expect(await privateStatus(memoryApp.url, cookie)).toBe(401);
  } finally {
    await memoryApp.close();
  }
});
