/**
 * A session repository the app writes itself is a trust boundary. Whatever it answers that is not a
 * well-formed, unexpired record of the very session id asked (`null` from
 * `JSON.parse(await redis.get(key))`, a record of another session, an expired one, dates as
 * strings) means "not active"; a store that never answers is a store that failed, after
 * `storeTimeoutMs`: the guard answers 503 and the back channel 400 with the logout kept.
 * Real Nest app over HTTP, the fake OP's discovery and JWKS over HTTP.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InMemoryOidcSessionRepository,
  OidcSessionRepository,
  type OidcLogoutCriteria,
  type OidcLogoutModuleOptions,
  type OidcSessionInfo,
} from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, sessionCookieOf } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';
const REGISTRATION = 'main';

/**
 * A user's store in the style of a key-value one: the records in memory, and what the lookup
 * answers for an id decided by `answer` (default: the record, or `null` when there is none, as
 * `JSON.parse(await redis.get(key))` does). It does not override `existsByClientSessionId`.
 */
class KeyValueRepository extends OidcSessionRepository {
  readonly inner = new InMemoryOidcSessionRepository();
  answer?: (id: string, stored: OidcSessionInfo | undefined) => unknown;
  /** When set, every call but the logout-event ones waits for this promise before it answers. */
  hang: Promise<void> | undefined;
  /** The (hashed) session ids saved so far. */
  readonly ids = new Set<string>();

  /** How many of the saved records are still there, asked of the store behind, not the app. */
  async live(): Promise<number> {
    let count = 0;
    for (const id of this.ids) if (await this.inner.findByClientSessionId(id)) count++;
    return count;
  }

  private async gate(): Promise<void> {
    if (this.hang) await this.hang;
  }
  async save(info: OidcSessionInfo): Promise<void> {
    await this.gate();
    this.ids.add(info.clientSessionId);
    await this.inner.save(info);
  }
  async findByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    await this.gate();
    const stored = await this.inner.findByClientSessionId(id);
    return (this.answer ? this.answer(id, stored) : (stored ?? null)) as
      OidcSessionInfo | undefined;
  }
  async removeByClientSessionId(id: string): Promise<OidcSessionInfo | undefined> {
    await this.gate();
    return this.inner.removeByClientSessionId(id);
  }
  async removeByLogoutToken(criteria: OidcLogoutCriteria): Promise<OidcSessionInfo[]> {
    await this.gate();
    return this.inner.removeByLogoutToken(criteria);
  }
}

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});
afterAll(async () => op?.close());

function options(extra: Partial<OidcLogoutModuleOptions> = {}): OidcLogoutModuleOptions {
  return {
    clients: [{ registrationId: REGISTRATION, issuer: op.issuer, clientId: CLIENT_ID }],
    ...extra,
  };
}

/** A new browser session the app never recorded a login for (it only visited a public page). */
async function anonymousCookie(url: string): Promise<string> {
  const response = await fetch(`${url}/public`);
  await response.arrayBuffer();
  const cookie = sessionCookieOf(response);
  if (!cookie) throw new Error('no session cookie');
  return cookie;
}

/** `GET /private` with that cookie: status, JSON body and how long it took. */
async function getPrivate(url: string, cookie: string, timeoutMs = 10_000) {
  const started = performance.now();
  const response = await fetch(`${url}/private`, {
    headers: { cookie, accept: 'application/json' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const body = await response.json();
  return { status: response.status, body, ms: performance.now() - started };
}

const UNAUTHORIZED = {
  statusCode: 401,
  error: 'Unauthorized',
  message: 'Your session has ended; log in again',
};
/** The same refusal, for a visitor whose session never held a login. */
const SIGN_IN = { ...UNAUTHORIZED, message: 'Sign in to continue' };
const UNAVAILABLE = {
  statusCode: 503,
  error: 'Service Unavailable',
  message: 'The session store is unavailable; try again later',
};

const login = async (url: string, sub: string, sid: string) =>
  loginAt(url, await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }));

describe('a user repository that answers something else than a live record: not active', () => {
  let repository: KeyValueRepository;
  let app: TestApp;

  beforeAll(async () => {
    repository = new KeyValueRepository();
    app = await startTestApp({ oidc: options({ sessionRepository: repository }) });
  });
  afterAll(async () => app?.close());

  it('null for an unknown session (JSON.parse of a missing key): 401, not a pass; a recorded login still passes', async () => {
    repository.answer = undefined;
    const alice = await login(app.url, `alice-${randomUUID()}`, `sid-${randomUUID()}`);
    const stranger = await anonymousCookie(app.url);
    const refused = await getPrivate(app.url, stranger);
    expect(refused.status).toBe(401);
    expect(refused.body).toEqual(SIGN_IN);
    // Nothing was revoked: the recorded login passes.
    expect((await getPrivate(app.url, alice)).status).toBe(200);
    expect(await repository.live()).toBe(1);
  });

  it.each([
    [
      'a record of another session id',
      (_id: string, _stored: OidcSessionInfo | undefined, other: OidcSessionInfo) => other,
    ],
    [
      'an expired record',
      (_id: string, stored: OidcSessionInfo | undefined) =>
        stored && { ...stored, expiresAt: new Date(Date.now() - 1_000) },
    ],
    [
      'a record with dates as strings (a JSON round trip)',
      (_id: string, stored: OidcSessionInfo | undefined) =>
        stored && (JSON.parse(JSON.stringify(stored)) as unknown),
    ],
    ['a string', () => 'active'],
    ['an empty object', () => ({})],
  ])('%s: 401 and the local session destroyed', async (_name, answer) => {
    // Someone else's live record, that a confused store could hand out for any id.
    await login(app.url, `other-${randomUUID()}`, `sid-${randomUUID()}`);
    const other = (await repository.inner.findByClientSessionId(
      [...repository.ids].at(-1) as string,
    )) as OidcSessionInfo;
    const bob = await login(app.url, `bob-${randomUUID()}`, `sid-${randomUUID()}`);
    const before = await repository.live();
    const stranger = await anonymousCookie(app.url);
    repository.answer = (id, stored) => answer(id, stored, other);
    try {
      for (const [cookie, body] of [
        [stranger, SIGN_IN],
        [bob, UNAUTHORIZED],
      ] as const) {
        const refused = await getPrivate(app.url, cookie);
        expect(refused.status).toBe(401);
        expect(refused.body).toEqual(body);
      }
    } finally {
      repository.answer = undefined;
    }
    // Refused, nothing revoked: the store still holds every other login. Bob's local session was
    // destroyed by the guard, and a destroyed session takes its own login record with it.
    expect(await repository.live()).toBe(before - 1);
    expect(await repository.inner.findByClientSessionId(other.clientSessionId)).toEqual(other);
    expect((await getPrivate(app.url, bob)).status).toBe(401);
  });
});

describe('a store that never answers: bounded by storeTimeoutMs', () => {
  const TIMEOUT_MS = 400;
  let repository: KeyValueRepository;
  let app: TestApp;

  beforeAll(async () => {
    repository = new KeyValueRepository();
    repository.answer = (_id, stored) => stored;
    app = await startTestApp({
      oidc: options({ sessionRepository: repository, storeTimeoutMs: TIMEOUT_MS }),
    });
  });
  afterAll(async () => app?.close());

  it('the guard answers 503 within the bound; the back channel 400 with the logout kept, applied once the store answers', async () => {
    const sub = `carol-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const carol = await login(app.url, sub, sid);
    const dave = await login(app.url, `dave-${randomUUID()}`, `sid-${randomUUID()}`);
    expect((await getPrivate(app.url, carol)).status).toBe(200);

    let release!: () => void;
    repository.hang = new Promise<void>((resolve) => (release = resolve));
    try {
      const guarded = await getPrivate(app.url, carol, 5_000);
      expect(guarded.status).toBe(503);
      expect(guarded.body).toEqual(UNAVAILABLE);
      expect(guarded.ms).toBeLessThan(TIMEOUT_MS + 1_500);

      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        clientId: CLIENT_ID,
        sub,
        sid,
      });
      const kept = await postLogoutToken(app.url, REGISTRATION, token, 5_000);
      expect(kept.status).toBe(400);
      expect(kept.body).toEqual({
        error: 'invalid_request',
        error_description:
          'the session store is unavailable; the logout was not applied yet, it is kept and applied when the store is back',
      });
      expect(kept.ms).toBeLessThan(TIMEOUT_MS + 1_500);
      expect(app.logoutService.pendingLogouts.count).toBe(1);
      // Nothing was removed while the store hung.
      expect(await repository.live()).toBe(2);
    } finally {
      repository.hang = undefined;
      release();
    }
    // The store answers again: the kept logout is applied, Carol refused, Dave still passes.
    const started = performance.now();
    for (;;) {
      const status = (await getPrivate(app.url, carol)).status;
      expect(status).not.toBe(200);
      if (status === 401 && (await repository.live()) === 1) break;
      if (performance.now() - started > 5_000) throw new Error('the kept logout was not applied');
      await sleep(50);
    }
    expect((await getPrivate(app.url, dave)).status).toBe(200);
    expect(app.logoutService.pendingLogouts.count).toBe(0);
  });
});
