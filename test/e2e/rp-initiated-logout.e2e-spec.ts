import { decodeJwt } from 'jose';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { OidcRevocationEvent } from '../../lib';
import {
  CookieJar,
  loginAtOp,
  startRealOp,
  type BackChannelDelivery,
  type RealOp,
} from '../fixtures/real-op';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { guardedStatus, logIn } from '../fixtures/login';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/**
 * RP-Initiated Logout 1.0 against a real OP (node oidc-provider, its rpInitiatedLogout and
 * backchannelLogout features) with two real Nest apps, each a client of the OP:
 *
 * - app A: registration `op-a` (client-a, logout by redirect) and `op-local` (client-c, configured
 *   without discovery and without end_session_endpoint, as for Google);
 * - app B: registration `op-b` (client-b).
 *
 * The browser is played over HTTP: supertest agents hold each app's cookies, a CookieJar the OP's.
 * oidc-provider serves its end-session endpoint to GET only (its session cookie is SameSite=Lax, so
 * a cross-site POST would not carry it), so the form POST variant is run against the fake OP below.
 */

const LANDING_A = '/goodbye';
const LANDING_B = '/see-you';
const LANDING_C = '/home';
/**
 * The apps' public post-logout redirect URIs, as registered at the OP. The apps listen on random
 * loopback ports that are only known once they run, after their options are fixed; so, as behind a
 * reverse proxy, the registered URI names a public origin, and the test delivers the OP's redirect
 * to it (path and query) to the app itself.
 */
const CALLBACK_A = 'http://app-a.example/logout/callback';
const CALLBACK_B = 'http://app-b.example/logout/callback';
const CALLBACK_C = 'http://app-c.example/logout/callback';

interface OpReceived {
  idTokenHints: Array<{ token: string; clientId: string }>;
  postLogoutRedirectUris: Array<{ value: string; clientId: string }>;
}

describe('RP-initiated logout with a real OP (oidc-provider) and two apps', () => {
  let op: RealOp;
  let appA: TestApp;
  let appB: TestApp;
  const eventsA: OidcRevocationEvent[] = [];
  const received: OpReceived = { idTokenHints: [], postLogoutRedirectUris: [] };
  let deliveriesBefore = 0;

  beforeAll(async () => {
    op = await startRealOp({
      clients: async (issuer) => {
        appA = await startTestApp({
          oidc: {
            clients: [
              {
                registrationId: 'op-a',
                issuer,
                clientId: 'client-a',
                postLogoutRedirectUri: CALLBACK_A,
              },
              {
                registrationId: 'op-local',
                issuer,
                clientId: 'client-c',
                discovery: false,
                jwksUri: `${issuer}/jwks`,
              },
            ],
            postLogoutLandingUrl: LANDING_A,
          },
        });
        appB = await startTestApp({
          oidc: {
            clients: [
              {
                registrationId: 'op-b',
                issuer,
                clientId: 'client-b',
                postLogoutRedirectUri: CALLBACK_B,
              },
            ],
            postLogoutLandingUrl: LANDING_B,
          },
        });
        return [
          {
            clientId: 'client-a',
            clientSecret: 'client-a-secret',
            redirectUri: `${appA.url}/login/callback/op-a`,
            postLogoutRedirectUri: CALLBACK_A,
            backchannelLogoutUri: `${appA.url}/logout/connect/back-channel/op-a`,
            backchannelLogoutSessionRequired: true,
          },
          {
            clientId: 'client-b',
            clientSecret: 'client-b-secret',
            redirectUri: `${appB.url}/login/callback/op-b`,
            postLogoutRedirectUri: CALLBACK_B,
            backchannelLogoutUri: `${appB.url}/logout/connect/back-channel/op-b`,
            backchannelLogoutSessionRequired: true,
          },
          {
            clientId: 'client-c',
            clientSecret: 'client-c-secret',
            redirectUri: `${appA.url}/login/callback/op-local`,
            backchannelLogoutUri: `${appA.url}/logout/connect/back-channel/op-local`,
            backchannelLogoutSessionRequired: true,
          },
        ];
      },
    });
    appA.logoutService.onRevocation((event) => {
      eventsA.push(event);
    });
    recordWhatTheOpReceives(op, received);
  });

  afterAll(async () => {
    await appA?.close();
    await appB?.close();
    await op?.close();
  });

  beforeEach(() => {
    eventsA.length = 0;
    received.idTokenHints.length = 0;
    received.postLogoutRedirectUris.length = 0;
    deliveriesBefore = op.deliveries.length;
  });

  function newDeliveries(): BackChannelDelivery[] {
    return op.deliveries.slice(deliveriesBefore);
  }

  /** A real login at the OP for `clientId`, then the app's login callback with the real ID token. */
  async function login(
    app: TestApp,
    clientId: string,
    registrationId: string,
    options: { login?: string; jar?: CookieJar } = {},
  ) {
    const opLogin = await loginAtOp(op, { clientId, ...options });
    const { agent } = await logIn(app.url, opLogin.idToken, { registrationId });
    await expectActive(agent);
    return { ...opLogin, agent };
  }

  async function expectActive(agent: request.Agent): Promise<void> {
    expect(await guardedStatus(agent)).toBe(200);
  }

  async function expectEnded(agent: request.Agent): Promise<void> {
    expect(await guardedStatus(agent)).toBe(401);
  }

  function stateCookieOf(response: request.Response): string | undefined {
    const cookies = (response.headers['set-cookie'] as unknown as string[] | undefined) ?? [];
    return cookies.find((c) => c.startsWith('oidc_logout_state='));
  }

  it('single sign-out: POST /logout at app A ends A at once, the OP ends B by back-channel, the callback lands', async () => {
    const a = await login(appA, 'client-a', 'op-a', { login: 'alice' });
    expect(a.prompts).toEqual(['login', 'consent']);
    // Single sign-on: the second app's login needs no password at the OP.
    const b = await login(appB, 'client-b', 'op-b', { login: 'alice', jar: a.jar });
    expect(b.prompts).toEqual(['consent']);
    expect(decodeJwt(b.idToken).sub).toBe('alice');

    const logout = await a.agent
      .post('/logout')
      .set('Origin', appA.url)
      .set('Sec-Fetch-Site', 'same-origin')
      .expect(302);

    expect(logout.headers['cache-control']).toBe('no-store');
    const location = new URL(logout.headers.location as string);
    expect(`${location.origin}${location.pathname}`).toBe(`${op.issuer}/session/end`);
    const state = location.searchParams.get('state') ?? '';
    expect(state).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect([...location.searchParams.entries()]).toEqual([
      ['id_token_hint', a.idToken],
      ['post_logout_redirect_uri', CALLBACK_A],
      ['client_id', 'client-a'],
      ['state', state],
    ]);
    expect(stateCookieOf(logout)).toBe(
      `oidc_logout_state=${state}; Path=/logout/callback; Max-Age=600; HttpOnly; SameSite=Lax`,
    );
    // The local session is gone before the OP is even asked: no back-channel message is needed.
    await expectEnded(a.agent);
    expect(eventsA.map((e) => [e.channel, e.registrationId, e.sub, e.sessions.length])).toEqual([
      ['rp-initiated', 'op-a', 'alice', 1],
    ]);
    await expectActive(b.agent);

    // The browser follows the redirect to the OP and confirms the logout there.
    const back = await confirmAtOp(a.jar, location);

    expect(received.idTokenHints).toEqual([{ token: a.idToken, clientId: 'client-a' }]);
    expect(received.postLogoutRedirectUris).toEqual([{ value: CALLBACK_A, clientId: 'client-a' }]);
    expect(back).toBe(`${CALLBACK_A}?state=${state}`);
    // The OP told app B (and app A, whose session was already gone: still 200) by back-channel.
    await expectEnded(b.agent);
    expect(
      newDeliveries()
        .map((d) => [d.url, d.status, d.claims.sub])
        .sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    ).toEqual(
      [
        [`${appA.url}/logout/connect/back-channel/op-a`, 200, 'alice'],
        [`${appB.url}/logout/connect/back-channel/op-b`, 200, 'alice'],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    );

    // A wrong state first: an error page, nothing else (the cookie stays, so the real one works).
    const wrong = await a.agent.get('/logout/callback?state=forged').expect(400);
    expect(wrong.headers['cache-control']).toBe('no-store');
    expect(wrong.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(wrong.headers.location).toBeUndefined();
    expect(stateCookieOf(wrong)).toBeUndefined();
    expect(wrong.text).toContain('Logout could not be confirmed');
    expect(wrong.text).not.toContain('forged');

    const callback = await a.agent.get(new URL(back).pathname + new URL(back).search).expect(302);
    expect(callback.headers.location).toBe(LANDING_A);
    expect(callback.headers['cache-control']).toBe('no-store');
    expect(stateCookieOf(callback)).toMatch(
      /^oidc_logout_state=; Path=\/logout\/callback; Max-Age=0;/,
    );

    // The OP session is gone too: logging in again at either client asks for the password.
    const again = await loginAtOp(op, { clientId: 'client-b', jar: a.jar, login: 'alice' });
    expect(again.prompts[0]).toBe('login');
  });

  it('the callback without state lands; with a state but no cookie it is an error page', async () => {
    const absent = await request(appA.url).get('/logout/callback').expect(302);
    expect(absent.headers.location).toBe(LANDING_A);
    expect(absent.headers['cache-control']).toBe('no-store');
    const noCookie = await request(appA.url).get('/logout/callback?state=abc').expect(400);
    expect(noCookie.headers['cache-control']).toBe('no-store');
    expect(noCookie.text).toContain('<h1>Logout could not be confirmed</h1>');
    expect(noCookie.text).not.toContain('abc');
    const injected = await request(appA.url)
      .get('/logout/callback?state=%3Cscript%3Ealert(1)%3C%2Fscript%3E')
      .expect(400);
    expect(injected.text).toContain('<h1>Logout could not be confirmed</h1>');
    expect(injected.text).not.toContain('<script>alert');
    const post = await request(appA.url).post('/logout/callback?state=abc').expect(405);
    expect(post.headers.allow).toBe('GET, HEAD');
    expect(post.text).toContain('<h1>Method not allowed</h1>');
  });

  describe('cross-site logout is impossible', () => {
    it('GET /logout shows a logout button page and logs nobody out', async () => {
      const user = await login(appA, 'client-a', 'op-a', { login: 'carol' });
      const page = await user.agent
        .get('/logout?next=%22%3E%3Cscript%3Ex%3C%2Fscript%3E')
        .set('Sec-Fetch-Site', 'cross-site')
        .expect(200);
      expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(page.headers['cache-control']).toBe('no-store');
      expect(page.headers['x-frame-options']).toBe('DENY');
      expect(page.headers['content-security-policy']).toContain("frame-ancestors 'none'");
      expect(page.text).toContain('<form method="post" action="/logout">');
      expect(page.text).not.toContain('<script>');
      expect(stateCookieOf(page)).toBeUndefined();
      await expectActive(user.agent);
      expect(eventsA).toEqual([]);
    });

    it.each([
      ['no Origin and no Sec-Fetch-Site', {}],
      ['Origin: https://evil.example', { Origin: 'https://evil.example' }],
      ['Origin: null', { Origin: 'null' }],
      ['Sec-Fetch-Site: cross-site', { 'Sec-Fetch-Site': 'cross-site' }],
      ['Sec-Fetch-Site: same-site', { 'Sec-Fetch-Site': 'same-site' }],
      [
        'Sec-Fetch-Site: cross-site with a same-origin Origin',
        { 'Sec-Fetch-Site': 'cross-site', Origin: 'SELF' },
      ],
      [
        'an Origin on another port of the same host',
        { Origin: 'OTHER_PORT', 'Sec-Fetch-Site': 'same-site' },
      ],
    ])('POST /logout with %s is refused (403), the session stays', async (_name, headers) => {
      const user = await login(appA, 'client-a', 'op-a', { login: 'dave' });
      let post = user.agent.post('/logout');
      for (const [name, value] of Object.entries(headers)) {
        post = post.set(
          name,
          value === 'SELF' ? appA.url : value === 'OTHER_PORT' ? appB.url : value,
        );
      }
      const refused = await post.expect(403);
      expect(refused.headers['cache-control']).toBe('no-store');
      expect(refused.headers['x-frame-options']).toBe('DENY');
      expect(refused.headers.location).toBeUndefined();
      expect(refused.text).toContain('Logout refused');
      expect(stateCookieOf(refused)).toBeUndefined();
      await expectActive(user.agent);
      expect(eventsA).toEqual([]);
      expect(received.idTokenHints).toEqual([]);
    });

    it('other methods get 405 and log nobody out', async () => {
      const user = await login(appA, 'client-a', 'op-a', { login: 'erin' });
      const put = await user.agent.put('/logout').set('Origin', appA.url).expect(405);
      expect(put.headers.allow).toBe('GET, HEAD, POST');
      expect(put.text).toContain('<h1>Method not allowed</h1>');
      await expectActive(user.agent);
      expect(eventsA).toEqual([]);
      expect(received.idTokenHints).toEqual([]);
    });
  });

  it('OP without end_session_endpoint (configured without discovery): local logout, 302 to the landing page', async () => {
    const user = await login(appA, 'client-c', 'op-local', { login: 'frank' });

    const logout = await user.agent.post('/logout').set('Origin', appA.url).expect(302);

    expect(logout.headers.location).toBe(LANDING_A);
    expect(logout.headers['cache-control']).toBe('no-store');
    expect(stateCookieOf(logout)).toBeUndefined();
    await expectEnded(user.agent);
    expect(eventsA.map((e) => [e.channel, e.registrationId, e.sub])).toEqual([
      ['rp-initiated', 'op-local', 'frank'],
    ]);
    expect(received.idTokenHints).toEqual([]);
  });

  it('a user without a recorded login gets the local logout and the landing page', async () => {
    const agent = request.agent(appA.url);
    await agent.get('/public').expect(200);
    const logout = await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(302);
    expect(logout.headers.location).toBe(LANDING_A);
    expect(eventsA).toEqual([]);
  });

  it('LogoutService.endSessionUrl builds the same request for apps with their own routes', async () => {
    const url = new URL(
      (await appA.logoutService.endSessionUrl({
        registrationId: 'op-a',
        idTokenHint: 'an.expired.token',
        state: 'st',
        uiLocales: ['fr', 'en'],
        logoutHint: 'alice',
      })) ?? '',
    );
    expect([...url.searchParams.entries()]).toEqual([
      ['id_token_hint', 'an.expired.token'],
      ['post_logout_redirect_uri', CALLBACK_A],
      ['client_id', 'client-a'],
      ['state', 'st'],
      ['ui_locales', 'fr en'],
      ['logout_hint', 'alice'],
    ]);
    expect(await appA.logoutService.endSessionUrl({ registrationId: 'op-local' })).toBeUndefined();
  });
});

describe('RP-initiated logout with a fake OP: form POST, and an OP without end_session_endpoint', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let googleLike: FakeOp;
  let app: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    googleLike = await startFakeOp({ keys, endSession: false });
    app = await startTestApp({
      oidc: {
        clients: [
          {
            registrationId: 'form',
            issuer: op.issuer,
            clientId: 'app-c',
            postLogoutRedirectUri: CALLBACK_C,
          },
          { registrationId: 'google', issuer: googleLike.issuer, clientId: 'app-c' },
        ],
        rpLogoutMethod: 'POST',
        postLogoutLandingUrl: LANDING_C,
      },
    });
  });

  afterAll(async () => {
    await app?.close();
    await op?.close();
    await googleLike?.close();
  });

  async function login(issuer: string, sub: string) {
    const idToken = await signIdToken(keys, { iss: issuer, aud: 'app-c', sub, sid: `sid-${sub}` });
    const { agent } = await logIn(app.url, idToken);
    expect(await guardedStatus(agent)).toBe(200);
    return { agent, idToken };
  }

  it("rpLogoutMethod 'POST': an auto-submitting form carries the parameters to the OP", async () => {
    const { agent, idToken } = await login(op.issuer, 'grace');
    op.resetRequests();

    const page = await agent.post('/logout').set('Origin', app.url).expect(200);

    expect(page.headers['cache-control']).toBe('no-store');
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(
      /^default-src 'none'; base-uri 'none'; frame-ancestors 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'$/,
    );
    expect(page.text).toContain(
      "<script>document.getElementById('oidc-end-session').submit();</script>",
    );
    await agent.get('/private').set('Accept', 'application/json').expect(401);
    const form = parseForm(page.text);
    expect(form.action).toBe(op.endSessionEndpoint);
    const state = form.fields.find(([name]) => name === 'state')?.[1] ?? '';
    expect(form.fields).toEqual([
      ['id_token_hint', idToken],
      ['post_logout_redirect_uri', CALLBACK_C],
      ['client_id', 'app-c'],
      ['state', state],
    ]);
    const cookie = ((page.headers['set-cookie'] as unknown as string[] | undefined) ?? []).find(
      (c) => c.startsWith('oidc_logout_state='),
    );
    expect(cookie).toBe(
      `oidc_logout_state=${state}; Path=/logout/callback; Max-Age=600; HttpOnly; SameSite=Lax`,
    );

    // The browser submits the form to the OP, which sends it back with the state.
    const atOp = await fetch(form.action, {
      method: 'POST',
      body: new URLSearchParams(form.fields),
      redirect: 'manual',
    });
    expect(op.endSessionCalls).toEqual([
      {
        method: 'POST',
        params: {
          id_token_hint: idToken,
          post_logout_redirect_uri: CALLBACK_C,
          client_id: 'app-c',
          state,
        },
      },
    ]);
    const back = new URL(atOp.headers.get('location') ?? '');
    expect(`${back.origin}${back.pathname}`).toBe(CALLBACK_C);
    const callback = await agent.get(`${back.pathname}${back.search}`).expect(302);
    expect(callback.headers.location).toBe(LANDING_C);
  });

  it('an OP whose discovery has no end_session_endpoint (Google): local logout, 302 to the landing page', async () => {
    const { agent } = await login(googleLike.issuer, 'heidi');

    const logout = await agent.post('/logout').set('Sec-Fetch-Site', 'same-origin').expect(302);

    expect(logout.headers.location).toBe(LANDING_C);
    expect(logout.headers['cache-control']).toBe('no-store');
    await agent.get('/private').set('Accept', 'application/json').expect(401);
    expect(googleLike.endSessionCalls).toEqual([]);
  });
});

/** Records what the OP receives: the ID token hints it validates and the redirect URIs it checks. */
function recordWhatTheOpReceives(op: RealOp, received: OpReceived): void {
  const IdToken = op.provider.IdToken as unknown as {
    validate: (jwt: string, client: { clientId: string }) => Promise<unknown>;
  };
  const validate = IdToken.validate.bind(IdToken);
  IdToken.validate = (jwt, client) => {
    received.idTokenHints.push({ token: jwt, clientId: client.clientId });
    return validate(jwt, client);
  };
  const prototype = op.provider.Client.prototype as unknown as {
    clientId: string;
    postLogoutRedirectUriAllowed: (value: string) => boolean;
  };
  const allowed = prototype.postLogoutRedirectUriAllowed;
  prototype.postLogoutRedirectUriAllowed = function (this: typeof prototype, value: string) {
    received.postLogoutRedirectUris.push({ value, clientId: this.clientId });
    return allowed.call(this, value);
  };
}

/** One request to the OP with the browser's OP cookies, redirects not followed. */
async function send(jar: CookieJar, url: URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response.headers.getSetCookie());
  return response;
}

/**
 * The browser at the OP: the end-session request (GET `url`, or POST `body` to it), then "Yes, sign
 * me out" on the OP's confirmation page. Returns where the OP sends the browser afterwards.
 */
async function confirmAtOp(jar: CookieJar, url: URL, body?: URLSearchParams): Promise<string> {
  const page = await send(jar, url, body ? { method: 'POST', body } : {});
  const html = await page.text();
  expect(page.status, html.slice(0, 300)).toBe(200);
  const form = parseForm(html);
  const fields = new URLSearchParams(form.fields);
  expect(fields.has('xsrf')).toBe(true);
  fields.set('logout', 'yes');
  const confirmUrl = new URL(form.action, url);
  const confirmed = await send(jar, confirmUrl, { method: 'POST', body: fields });
  await confirmed.body?.cancel();
  expect(confirmed.status).toBe(303);
  return new URL(confirmed.headers.get('location') ?? '', confirmUrl).href;
}

/** The first form of a page: its action and hidden fields, in order, entities decoded. */
function parseForm(html: string): { action: string; fields: Array<[string, string]> } {
  const form = /<form\b([^>]*)>([\s\S]*?)<\/form>/i.exec(html);
  if (!form) throw new Error(`no form in ${html.slice(0, 300)}`);
  const fields: Array<[string, string]> = [];
  for (const input of (form[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
    const attributes = input[1] ?? '';
    if (attribute(attributes, 'type') !== 'hidden') continue;
    fields.push([attribute(attributes, 'name') ?? '', attribute(attributes, 'value') ?? '']);
  }
  return { action: attribute(form[1] ?? '', 'action') ?? '', fields };
}

function attribute(attributes: string, name: string): string | undefined {
  const match = new RegExp(`\\b${name}="([^"]*)"`, 'i').exec(attributes);
  if (match?.[1] === undefined) return undefined;
  return match[1]
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}
