/**
 * The OP's JWKS endpoint fails, hangs, or the whole OP (a real HTTP server) is stopped, while logout
 * tokens and logins arrive at a real app. Keys already cached keep working without a request to the
 * OP; a token signed by a key not cached yet is refused with 400 within a bounded time; nothing
 * hangs, and the JWKS is not hammered (every request is counted at the fake OP).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryOidcSessionRepository } from '../../lib';
import { DEFAULT_JWKS_COOLDOWN_MS } from '../../lib/tokens/jwks-key-set';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKey, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus, tryLoginAt } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';
/** The app's timeout for one request to the OP. */
const HTTP_TIMEOUT_MS = 1_000;
/**
 * The longest a token of an uncached key may wait: the JWKS cooldown, then at most two fetch
 * timeouts (one already running, one started for it), plus scheduling slack.
 */
const NEW_KID_BOUND_MS = DEFAULT_JWKS_COOLDOWN_MS + 2 * HTTP_TIMEOUT_MS + 1_000;
/** A token whose key is cached needs no request to the OP at all. */
const CACHED_BOUND_MS = 500;

type Outage = 'failing' | 'hanging' | 'stopped';

let keys: TestKeySet;
let op: FakeOp;
let app: TestApp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  app = await startTestApp({
    oidc: {
      clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
      sessionRepository: new InMemoryOidcSessionRepository(),
      httpTimeoutMs: HTTP_TIMEOUT_MS,
    },
  });
});

afterAll(async () => {
  await app?.close();
  await op?.close();
});

afterEach(async () => {
  await recover();
});

async function recover(): Promise<void> {
  op.controls.failJwks = false;
  op.controls.jwksDelayMs = 0;
  await op.start();
}

async function outage(kind: Outage): Promise<void> {
  if (kind === 'failing') op.controls.failJwks = 503;
  if (kind === 'hanging') op.controls.jwksDelayMs = 10 * 60_000;
  if (kind === 'stopped') await op.stop();
}

async function login(key?: TestKey): Promise<{ cookie: string; sub: string; sid: string }> {
  const sub = `user-${randomUUID()}`;
  const sid = `sid-${randomUUID()}`;
  const idToken = await signIdToken(
    keys,
    { iss: op.issuer, aud: CLIENT_ID, sub, sid },
    key ? { key } : {},
  );
  return { cookie: await loginAt(app.url, idToken), sub, sid };
}

const logoutToken = (user: { sub: string; sid: string }, key?: TestKey) =>
  signLogoutToken(keys, {
    issuer: op.issuer,
    clientId: CLIENT_ID,
    ...user,
    ...(key ? { key } : {}),
  });

describe.each<Outage>(['failing', 'hanging', 'stopped'])('the JWKS endpoint is %s', (kind) => {
  it('cached keys keep working: logouts and logins verified with no request to the OP', async () => {
    // Warm: the first login fetched discovery and the JWKS.
    const users = [await login(), await login(), await login()];
    op.resetRequests();
    await outage(kind);

    const [first, second, third] = users as [
      (typeof users)[number],
      (typeof users)[number],
      (typeof users)[number],
    ];
    const logout = await postLogoutToken(app.url, REGISTRATION, await logoutToken(first));
    expect(logout.status).toBe(200);
    expect(logout.ms).toBeLessThan(CACHED_BOUND_MS);
    expect(await privateStatus(app.url, first.cookie)).toBe(401);
    expect(await privateStatus(app.url, second.cookie)).toBe(200);
    // A login whose ID token is signed by a cached key.
    const fresh = await login();
    expect(await privateStatus(app.url, fresh.cookie)).toBe(200);
    expect((await postLogoutToken(app.url, REGISTRATION, await logoutToken(third))).status).toBe(
      200,
    );
    expect(op.count('jwks')).toBe(0);
    expect(op.count('discovery')).toBe(0);
  });

  it('a new kid fails with 400 within a bounded time, nothing hangs, the JWKS is not hammered', async () => {
    const user = await login();
    const rotated = await op.rotateKeys();
    await outage(kind);
    op.resetRequests();

    // The OP sends 20 logout tokens of the new key at once (a flood, or a rotation).
    const tokens = await Promise.all(Array.from({ length: 20 }, () => logoutToken(user, rotated)));
    const started = performance.now();
    const answers = Promise.all(
      tokens.map((token) =>
        postLogoutToken(app.url, REGISTRATION, token, NEW_KID_BOUND_MS + 2_000),
      ),
    );
    // Meanwhile the app keeps serving other requests at once.
    await sleep(100);
    const guardStarted = performance.now();
    expect(await privateStatus(app.url, user.cookie)).toBe(200);
    expect(performance.now() - guardStarted).toBeLessThan(CACHED_BOUND_MS);

    const settled = await answers;
    console.warn(
      `[jwks ${kind}] 20 new-kid tokens refused in at most ` +
        `${Math.round(Math.max(...settled.map((a) => a.ms)))} ms with ${op.count('jwks')} JWKS request(s)`,
    );
    for (const answer of settled) {
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual({
        error: 'invalid_request',
        error_description: expect.stringMatching(/^Logout token rejected \(jwks_unavailable\): /),
      });
      expect(answer.ms).toBeLessThan(NEW_KID_BOUND_MS);
    }
    const elapsed = performance.now() - started;
    expect(elapsed).toBeLessThan(NEW_KID_BOUND_MS);
    // One fetch for all of them (single-flight), at most one more after the cooldown.
    expect(op.count('jwks')).toBeLessThanOrEqual(2);
    // Nothing was revoked by the refused tokens.
    expect(await privateStatus(app.url, user.cookie)).toBe(200);

    // A login signed by the new key is refused the same way, in bounded time.
    const loginStarted = performance.now();
    const refused = await tryLoginAt(
      app.url,
      await signIdToken(
        keys,
        { iss: op.issuer, aud: CLIENT_ID, sub: 'x', sid: randomUUID() },
        { key: rotated },
      ),
    );
    expect(refused.status).toBe(400);
    expect(refused.body).toEqual({ code: 'ERR_ID_TOKEN_INVALID' });
    expect(performance.now() - loginStarted).toBeLessThan(NEW_KID_BOUND_MS);

    // Idle: no background retries against a JWKS that is down.
    const before = op.count('jwks');
    await sleep(DEFAULT_JWKS_COOLDOWN_MS + 500);
    expect(op.count('jwks')).toBe(before);
    expect(op.count('jwks')).toBeLessThanOrEqual(3);

    // The OP is back: the same kind of token is verified with one more fetch and applied.
    await recover();
    op.resetRequests();
    const applied = await postLogoutToken(app.url, REGISTRATION, await logoutToken(user, rotated));
    expect(applied.status).toBe(200);
    expect(op.count('jwks')).toBe(1);
    expect(await privateStatus(app.url, user.cookie)).toBe(401);
  }, 30_000);
});
