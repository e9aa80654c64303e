import { decodeJwt } from 'jose';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import { OidcSessionRepository, type OidcRevocationEvent } from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import {
  createFastifyTestApp,
  logInAtFastifyApp,
  startFastifyTestApp,
  type FastifyTestApp,
} from '../fixtures/fastify-test-app';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { listenOnLoopback } from '../fixtures/listen';
import { header, rawRequest, type RawRequest } from '../fixtures/raw-http';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { loginAtOp, logoutAtOp, startRealOp, type RealOp } from '../fixtures/real-op';

/**
 * The module's four endpoints on `@nestjs/platform-fastify`, against a real OP (node
 * oidc-provider): the registration id comes from the URL (the raw request Nest middleware sees on
 * Fastify has no `params`), and the session from the Fastify request (a session plugin's hook).
 */

const REGISTRATION = { registrationId: 'op-fastify', clientId: 'client-fastify' };
const PAGE_TEXT = 'Logout request processed.';

describe('Fastify: the logout endpoints with a real OP', () => {
  let op: RealOp;
  let testApp: FastifyTestApp;
  const events: OidcRevocationEvent[] = [];
  let deliveriesBefore = 0;

  beforeAll(async () => {
    op = await startRealOp({
      clients: async (issuer) => {
        testApp = await startFastifyTestApp({
          clients: [
            {
              ...REGISTRATION,
              issuer,
              postLogoutRedirectUri: 'http://app.example/logout/callback',
            },
          ],
          onRevocation: (event) => {
            events.push(event);
          },
        });
        return [
          {
            clientId: REGISTRATION.clientId,
            clientSecret: `${REGISTRATION.clientId}-secret`,
            redirectUri: `${testApp.url}/login/callback/${REGISTRATION.registrationId}`,
            postLogoutRedirectUri: 'http://app.example/logout/callback',
            backchannelLogoutUri: `${testApp.url}/logout/connect/back-channel/${REGISTRATION.registrationId}`,
            backchannelLogoutSessionRequired: true,
          },
        ];
      },
    });
  });

  afterAll(async () => {
    await testApp?.close();
    await op?.close();
  });

  beforeEach(() => {
    events.length = 0;
    deliveriesBefore = op.deliveries.length;
  });

  /** A real login at the OP, recorded by the Fastify app for a new session. */
  async function login(name: string) {
    const opLogin = await loginAtOp(op, { clientId: REGISTRATION.clientId, login: name });
    const appLogin = await logInAtFastifyApp(testApp.url, opLogin.idToken);
    expect(appLogin.sessionId).not.toBe('');
    await expectRecorded(appLogin.sessionId);
    return { ...opLogin, ...appLogin };
  }

  async function recorded(sessionId: string): Promise<boolean> {
    return (await testApp.repository.findByClientSessionId(hashSessionId(sessionId))) !== undefined;
  }

  async function expectRecorded(sessionId: string): Promise<void> {
    expect(await recorded(sessionId)).toBe(true);
  }

  it('back-channel: the OP ends a recorded session (200, the record is gone), others stay', async () => {
    const alice = await login('alice');
    const bob = await login('bob');

    await logoutAtOp(op, alice.jar, { idTokenHint: alice.idToken });

    const deliveries = op.deliveries.slice(deliveriesBefore);
    expect(deliveries.map((d) => [d.status, d.body])).toEqual([[200, '']]);
    expect(deliveries[0]!.claims.sid).toBe(decodeJwt(alice.idToken).sid);
    expect(await recorded(alice.sessionId)).toBe(false);
    await expectRecorded(bob.sessionId);
    expect(events.map((e) => [e.channel, e.registrationId, e.sub])).toEqual([
      ['back-channel', REGISTRATION.registrationId, 'alice'],
    ]);
  });

  it('back-channel: an unknown registration is still refused (400, spec shape), nothing revoked', async () => {
    const carol = await login('carol');
    // A token the OP signed that names carol's session (her ID token; the fixture cannot sign a
    // logout token with the OP's keys): a refusal wrongly applied would be seen.
    const response = await fetch(`${testApp.url}/logout/connect/back-channel/nobody`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ logout_token: carol.idToken }).toString(),
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description: 'unknown client registration',
    });
    await expectRecorded(carol.sessionId);
    expect(events).toEqual([]);
  });

  it('back-channel: a refused token at a known registration names the token, not the registration', async () => {
    const dave = await login('dave');
    const response = await fetch(
      `${testApp.url}/logout/connect/back-channel/${REGISTRATION.registrationId}`,
      {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        // Signed by the OP for this client, naming dave's session: but an ID token, not a logout token.
        body: new URLSearchParams({ logout_token: dave.idToken }).toString(),
        signal: AbortSignal.timeout(10_000),
      },
    );
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      // oidc-provider's ID tokens carry no jti (nor events): the first logout-token rule it fails.
      error_description: 'Logout token rejected (jti_missing): jti is missing',
    });
    await expectRecorded(dave.sessionId);
    expect(events).toEqual([]);
  });

  it('front-channel: iss and sid end that OP session (200 page, the record is gone)', async () => {
    const erin = await login('erin');
    const frank = await login('frank');
    const url = new URL(
      `${testApp.url}/logout/connect/front-channel/${REGISTRATION.registrationId}`,
    );
    url.searchParams.set('iss', op.issuer);
    url.searchParams.set('sid', erin.sid!);

    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });

    expect(response.status).toBe(200);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(response.headers.get('content-security-policy')).toContain(
      `frame-ancestors ${new URL(op.issuer).origin}`,
    );
    expect(await response.text()).toContain(PAGE_TEXT);
    expect(await recorded(erin.sessionId)).toBe(false);
    await expectRecorded(frank.sessionId);
    expect(events.map((e) => [e.channel, e.sessions.map((x) => x.sub)])).toEqual([
      ['front-channel', ['erin']],
    ]);
  });

  it('front-channel: an unknown registration revokes nothing', async () => {
    const gina = await login('gina');
    const url = new URL(`${testApp.url}/logout/connect/front-channel/nobody`);
    url.searchParams.set('iss', op.issuer);
    url.searchParams.set('sid', gina.sid!);
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    await expectRecorded(gina.sessionId);
    expect(events).toEqual([]);
  });

  it("POST /logout ends the local session and redirects to the OP's end-session endpoint", async () => {
    const hank = await login('hank');

    const response = await fetch(`${testApp.url}/logout`, {
      method: 'POST',
      headers: {
        cookie: hank.cookie,
        origin: testApp.url,
        'sec-fetch-site': 'same-origin',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: '',
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });

    expect(response.status).toBe(302);
    expect(response.headers.get('cache-control')).toBe('no-store');
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/session/end`);
    expect(location.searchParams.get('id_token_hint')).toBe(hank.idToken);
    expect(location.searchParams.get('client_id')).toBe(REGISTRATION.clientId);
    expect(await recorded(hank.sessionId)).toBe(false);
    expect(events.map((e) => [e.channel, e.sub])).toEqual([['rp-initiated', 'hank']]);
  });

  it('POST /logout behind a TLS proxy (trustProxy): the origin is the one the browser sees', async () => {
    const jill = await login('jill');
    const response = await fetch(`${testApp.url}/logout`, {
      method: 'POST',
      headers: {
        cookie: jill.cookie,
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'app.example.com',
        origin: 'https://app.example.com',
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: '',
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/session/end`);
    expect(await recorded(jill.sessionId)).toBe(false);
    // The state cookie is Secure: the browser talks https to the proxy.
    expect(response.headers.get('set-cookie') ?? '').toMatch(/;\s*Secure/i);
  });

  it('POST /logout from another site is refused (403) and ends nothing', async () => {
    const ivy = await login('ivy');
    const response = await fetch(`${testApp.url}/logout`, {
      method: 'POST',
      headers: {
        cookie: ivy.cookie,
        origin: 'https://evil.example',
        'sec-fetch-site': 'cross-site',
      },
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(403);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.text()).toContain('<h1>Logout refused</h1>');
    await expectRecorded(ivy.sessionId);
    expect(events).toEqual([]);
  });

  it('GET /logout/callback without state lands on the landing page', async () => {
    const response = await fetch(`${testApp.url}/logout/callback`, {
      redirect: 'manual',
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(302);
    expect(response.headers.get('location')).toBe('/');
    expect(response.headers.get('cache-control')).toBe('no-store');
  });
});

describe('Fastify: a global prefix, the cookie fallback of the front channel, the startup warning', () => {
  const warnings: string[] = [];
  let keys: TestKeySet;
  let fakeOp: FakeOp;
  let app: NestFastifyApplication;
  let url: string;

  beforeAll(async () => {
    keys = await createTestKeySet();
    fakeOp = await startFakeOp({ keys });
    app = await createFastifyTestApp({
      clients: [
        {
          registrationId: 'optional',
          issuer: fakeOp.issuer,
          clientId: 'app-optional',
          frontChannel: { sessionRequired: false },
        },
      ],
    });
    app.useLogger({
      log: () => undefined,
      error: () => undefined,
      warn: (message: unknown) => {
        warnings.push(String(message));
      },
    });
    app.setGlobalPrefix('api');
    url = await listenOnLoopback(app);
  });

  afterAll(async () => {
    await app?.close();
    await fakeOp?.close();
  });

  async function login(sub: string): Promise<{ cookie: string; sessionId: string }> {
    const idToken = await signIdToken(keys, { iss: fakeOp.issuer, aud: 'app-optional', sub });
    const { cookie, sessionId } = await logInAtFastifyApp(url, idToken, '/api');
    return { cookie, sessionId };
  }

  function recorded(sessionId: string): Promise<boolean> {
    return app
      .get(OidcSessionRepository)
      .findByClientSessionId(hashSessionId(sessionId))
      .then((found) => found !== undefined);
  }

  it('serves the endpoints under the global prefix, the registration id from the URL', async () => {
    const response = await fetch(`${url}/api/logout/connect/back-channel/optional`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'logout_token=x.y.z',
      signal: AbortSignal.timeout(10_000),
    });
    expect(response.status).toBe(400);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toEqual({
      error: 'invalid_request',
      error_description:
        'Logout token rejected (malformed): the header is not base64url-encoded JSON',
    });
  });

  it("the front channel without iss and sid ends the request's own session (sessionRequired: false)", async () => {
    const user = await login('olga');
    const other = await login('olga');
    expect(await recorded(user.sessionId)).toBe(true);

    const response = await fetch(`${url}/api/logout/connect/front-channel/optional`, {
      headers: { cookie: user.cookie },
      signal: AbortSignal.timeout(10_000),
    });

    expect(response.status).toBe(200);
    expect(await response.text()).toContain(PAGE_TEXT);
    expect(await recorded(user.sessionId)).toBe(false);
    expect(await recorded(other.sessionId)).toBe(true);
  });

  it("back-channel refusals of the body come in the spec's shape, before Fastify's parsers", async () => {
    const user = await login('paul');
    // Every refused body carries a valid token naming paul (sub only): taken by mistake, it would
    // end his session, and the check after the loop would see it.
    const token = await signLogoutToken(keys, {
      issuer: fakeOp.issuer,
      clientId: 'app-optional',
      sub: 'paul',
      claims: { sid: undefined },
    });
    const target = '/api/logout/connect/back-channel/optional';
    const form = 'application/x-www-form-urlencoded';
    const big = `logout_token=${token}&pad=${'x'.repeat(70 * 1024)}`;
    const post = (headers: Array<[string, string]>, body: string | Buffer): RawRequest => ({
      method: 'POST',
      target,
      headers,
      body,
    });
    const cases: Array<[RawRequest, number, string]> = [
      [
        post([['Content-Type', `${form}; charset=latin1`]], `logout_token=${token}`),
        400,
        'the body must be UTF-8 (no charset, or charset=utf-8)',
      ],
      [
        post(
          [
            ['Content-Type', form],
            ['Content-Encoding', 'gzip'],
          ],
          gzipSync(`logout_token=${token}`),
        ),
        400,
        'the body must not be content-encoded (no Content-Encoding, or identity)',
      ],
      [
        post([['Content-Type', 'application/json']], '{"logout_token":'),
        400,
        'the body must be application/x-www-form-urlencoded',
      ],
      [
        post([['Content-Type', 'application/json']], JSON.stringify({ logout_token: token })),
        400,
        'the body must be application/x-www-form-urlencoded',
      ],
      [post([['Content-Type', form]], big), 413, 'the body is larger than 65536 bytes'],
      [
        {
          ...post(
            [
              ['Content-Type', form],
              ['Transfer-Encoding', 'chunked'],
            ],
            `${Buffer.byteLength(big).toString(16)}\r\n${big}\r\n0\r\n\r\n`,
          ),
          contentLength: false,
        },
        413,
        'the body is larger than 65536 bytes',
      ],
    ];
    for (const [raw, status, description] of cases) {
      const response = await rawRequest(url, raw);
      expect(response.status, response.body.toString()).toBe(status);
      expect(header(response, 'cache-control')).toBe('no-store');
      expect(JSON.parse(response.body.toString())).toEqual({
        error: 'invalid_request',
        error_description: description,
      });
    }
    expect(await recorded(user.sessionId)).toBe(true);
    // The same token in a plain form body ends the session: it did name it.
    const accepted = await rawRequest(url, post([['Content-Type', form]], `logout_token=${token}`));
    expect(accepted.status).toBe(200);
    expect(await recorded(user.sessionId)).toBe(false);
  });

  it('warns at startup about what does not work on Fastify yet', () => {
    expect(warnings.join('\n')).toContain('On Fastify, session id changes');
  });
});
