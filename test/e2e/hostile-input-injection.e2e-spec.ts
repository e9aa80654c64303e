import { randomUUID } from 'node:crypto';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  endSessionFormPage,
  logoutButtonPage,
  logoutRefusedPage,
  methodNotAllowedPage,
  stateMismatchPage,
} from '../../lib/http/logout-pages';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
import { header, headers, rawRequest, type RawResponse } from '../fixtures/raw-http';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/**
 * Open redirect, header injection and XSS attempts through every value that reaches a redirect or a
 * page: query and form parameters of every endpoint (state, iss, sid, post_logout_redirect_uri and
 * the like), the registration id in the path, Host / Origin / X-Forwarded-* headers, cookies, and
 * the OP's own discovery document. None succeeds: a Location is only ever the configured landing or
 * login page or the OP's end-session endpoint with the library's own parameters; no page carries a
 * request value but its own (escaped) path; no header is added.
 */

const CALLBACK = 'http://app.example/logout/callback';
const LANDING = '/landing';
const LOGIN = '/login';
const INJECTED = 'x-injected';

/** Values that try to become a redirect target, a header or markup, raw or encoded. */
const PAYLOADS = [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(document.domain)',
  'java\tscript:alert(1)',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
  '//evil.example',
  '//evil.example/%2f..',
  '///evil.example',
  '\\\\evil.example',
  '/\\evil.example',
  'https://evil.example/',
  'https:evil.example',
  'http://app.example@evil.example/',
  '\r\nX-Injected: 1',
  '\nX-Injected: 1',
  '\rX-Injected: 1',
  '\r\nSet-Cookie: oidc_logout_state=pwned',
  '\r\n\r\n<script>alert(1)</script>',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg/onload=alert(1)>",
  '</title><script>alert(1)</script>',
  '<a href="javascript:alert(1)">x</a>',
  '&lt;script&gt;alert(1)&lt;/script&gt;',
  '\u2028\u2029<script>alert(1)</script>',
];
/** Each payload as it may arrive in a URL or a form: percent-encoded, double-encoded, raw-ish. */
function encodings(payload: string): string[] {
  const once = encodeURIComponent(payload);
  return [
    once,
    encodeURIComponent(once),
    once.replace(/%0D/g, '%0d').replace(/%0A/g, '%0a'),
    payload.replace(/[\r\n\t ]/g, (c) => encodeURIComponent(c)).replace(/#/g, '%23'),
  ];
}
/** Names of parameters an attacker might hope a logout reads. */
const REDIRECT_PARAMS = [
  'post_logout_redirect_uri',
  'redirect_uri',
  'redirect',
  'returnTo',
  'return_to',
  'next',
  'continue',
  'url',
  'target',
  'state',
  'client_id',
  'id_token_hint',
  'ui_locales',
  'logout_hint',
  'iss',
  'sid',
];

const FRONT_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>Logout request processed.</p></body></html>';

let keys: TestKeySet;
let op: FakeOp;
let testApp: TestApp;
let formApp: TestApp;
/** OPs whose discovery documents carry a hostile end_session_endpoint. */
const hostileOps: Record<string, FakeOp> = {};
const HOSTILE_ENDPOINTS: Record<string, (origin: string) => string> = {
  'op-quote': (o) => `${o}/logout?x="><script>alert(1)</script>&y='`,
  'op-javascript': () => 'javascript:alert(1)//',
  'op-data': () => 'data:text/html,<script>alert(1)</script>',
  'op-crlf': (o) => `${o}/logout\r\nX-Injected: 1`,
  'op-tab': (o) => `${o}/lo\tgout`,
};

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  for (const [name, endpoint] of Object.entries(HOSTILE_ENDPOINTS)) {
    const hostile = await startFakeOp({ keys });
    hostile.controls.extraMetadata = {
      end_session_endpoint: endpoint(new URL(hostile.issuer).origin),
    };
    hostileOps[name] = hostile;
  }
  const clients = [
    {
      registrationId: 'main',
      issuer: op.issuer,
      clientId: 'app-main',
      postLogoutRedirectUri: CALLBACK,
    },
    ...Object.entries(hostileOps).map(([registrationId, hostile]) => ({
      registrationId,
      issuer: hostile.issuer,
      clientId: 'app-main',
      postLogoutRedirectUri: CALLBACK,
    })),
  ];
  testApp = await startTestApp({
    oidc: { clients, postLogoutLandingUrl: LANDING, loginUrl: LOGIN },
  });
  formApp = await startTestApp({
    oidc: { clients, postLogoutLandingUrl: LANDING, loginUrl: LOGIN, rpLogoutMethod: 'POST' },
  });
});

afterAll(async () => {
  await testApp?.close();
  await formApp?.close();
  await op?.close();
  for (const hostile of Object.values(hostileOps)) await hostile.close();
});

/** A logged-in browser at `app`: its cookie header and ID token. */
async function login(app: TestApp, issuer = op.issuer) {
  const idToken = await signIdToken(keys, {
    iss: issuer,
    aud: 'app-main',
    sub: `user-${randomUUID()}`,
    sid: `sid-${randomUUID()}`,
  });
  return logIn(app.url, idToken);
}

function origin(app: TestApp): string {
  return new URL(app.url).origin;
}

/** No response header but the expected ones: nothing injected, no second cookie. */
function expectNoInjection(response: RawResponse | request.Response, context: string): void {
  const list: Array<[string, string]> =
    'headerList' in response
      ? response.headerList
      : Object.entries(response.headers).flatMap(([n, v]) =>
          (Array.isArray(v) ? v : [String(v)]).map((x): [string, string] => [n, x]),
        );
  expect(
    list.some(([name]) => name === INJECTED),
    context,
  ).toBe(false);
  for (const [name, value] of list) {
    expect(value, context).not.toMatch(/[\r\n]/);
    if (name === 'set-cookie') expect(value, context).toMatch(/^(connect\.sid|oidc_logout_state)=/);
    if (name === 'set-cookie') expect(value, context).not.toMatch(/pwned/);
  }
}

/** A Location that is the OP's end-session endpoint with exactly the library's parameters. */
function expectEndSessionRedirect(location: string | undefined, idToken: string, context: string) {
  expect(location, context).toBeDefined();
  const url = new URL(location ?? '');
  expect(`${url.origin}${url.pathname}`, context).toBe(op.endSessionEndpoint);
  const params = [...url.searchParams];
  expect(
    params.map(([name]) => name),
    context,
  ).toEqual(['id_token_hint', 'post_logout_redirect_uri', 'client_id', 'state']);
  expect(url.searchParams.get('id_token_hint'), context).toBe(idToken);
  expect(url.searchParams.get('post_logout_redirect_uri'), context).toBe(CALLBACK);
  expect(url.searchParams.get('client_id'), context).toBe('app-main');
  expect(url.searchParams.get('state'), context).toMatch(/^[A-Za-z0-9_-]{43}$/);
  return url.searchParams.get('state') ?? '';
}

describe('RP-initiated logout: no request value chooses where the browser goes', () => {
  it.each(PAYLOADS.map((p) => [JSON.stringify(p), p]))(
    'POST /logout with %s in every parameter, query and body, and in the headers',
    async (_name, payload) => {
      const { idToken, cookie } = await login(testApp);
      const [encoded = '', double = ''] = encodings(payload);
      const query = REDIRECT_PARAMS.map((name) => `${name}=${encoded}`).join('&');
      const body = REDIRECT_PARAMS.map((name) => `${name}=${double}`).join('&');
      const response = await rawRequest(testApp.url, {
        method: 'POST',
        target: `/logout?${query}`,
        headers: [
          ['Cookie', cookie],
          ['Origin', origin(testApp)],
          ['Sec-Fetch-Site', 'same-origin'],
          ['Content-Type', 'application/x-www-form-urlencoded'],
          ['Referer', `https://evil.example/?next=${encoded}`],
          ['X-Forwarded-Host', 'evil.example'],
          ['X-Forwarded-Proto', 'javascript'],
          ['Forwarded', 'host=evil.example;proto=https'],
        ],
        body,
      });
      expect(response.status, response.body.toString()).toBe(302);
      expectNoInjection(response, payload);
      const state = expectEndSessionRedirect(header(response, 'location'), idToken, payload);
      const stateCookie = headers(response, 'set-cookie').find((c) =>
        c.startsWith('oidc_logout_state='),
      );
      expect(stateCookie).toBe(
        `oidc_logout_state=${state}; Path=/logout/callback; Max-Age=600; HttpOnly; SameSite=Lax`,
      );
    },
  );

  it('a Host and Origin of another site, consistent with each other, still redirect to the OP only', async () => {
    const { idToken, cookie } = await login(testApp);
    const response = await rawRequest(testApp.url, {
      method: 'POST',
      target: '/logout?post_logout_redirect_uri=https%3A%2F%2Fevil.example',
      headers: [
        ['Host', 'evil.example'],
        ['Origin', 'http://evil.example'],
        ['Cookie', cookie],
      ],
    });
    // Not a browser-forgeable request (a page cannot set Host); the redirect is the OP's anyway.
    expect(response.status).toBe(302);
    expectEndSessionRedirect(header(response, 'location'), idToken, 'Host');
    expectNoInjection(response, 'Host');
  });

  it('the auto-submitting form (rpLogoutMethod POST) reflects nothing: exactly the library page', async () => {
    for (const payload of PAYLOADS) {
      const { idToken, cookie } = await login(formApp);
      const [encoded = ''] = encodings(payload);
      const response = await rawRequest(formApp.url, {
        method: 'POST',
        target: `/logout?${REDIRECT_PARAMS.map((name) => `${name}=${encoded}`).join('&')}`,
        headers: [
          ['Cookie', cookie],
          ['Sec-Fetch-Site', 'same-origin'],
          ['Content-Type', 'application/x-www-form-urlencoded'],
        ],
        body: REDIRECT_PARAMS.map((name) => `${name}=${encoded}`).join('&'),
      });
      expect(response.status).toBe(200);
      expectNoInjection(response, payload);
      expect(header(response, 'location')).toBeUndefined();
      const html = response.body.toString('utf8');
      const state = /name="state" value="([A-Za-z0-9_-]{43})"/.exec(html)?.[1] ?? '';
      expect(state).not.toBe('');
      expect(html).toBe(
        endSessionFormPage(op.endSessionEndpoint, [
          ['id_token_hint', idToken],
          ['post_logout_redirect_uri', CALLBACK],
          ['client_id', 'app-main'],
          ['state', state],
        ]).html,
      );
      expect(header(response, 'content-security-policy')).toMatch(
        /^default-src 'none'; base-uri 'none'; frame-ancestors 'none'; script-src 'sha256-[A-Za-z0-9+/=]+'$/,
      );
    }
  });

  it('GET, refused POST and other methods: the library pages, with nothing but the escaped path', async () => {
    // A real session sends its cookie with every refused request: none may end it.
    const { agent, cookie } = await login(testApp);
    for (const payload of PAYLOADS) {
      for (const encoded of encodings(payload)) {
        const query = REDIRECT_PARAMS.map((name) => `${name}=${encoded}`).join('&');
        for (const path of ['/logout', '/logout/', '/LOGOUT']) {
          const get = await rawRequest(testApp.url, { method: 'GET', target: `${path}?${query}` });
          expect(get.status).toBe(200);
          expect(get.body.toString('utf8')).toBe(logoutButtonPage(path));
          expectNoInjection(get, payload);
          const refused = await rawRequest(testApp.url, {
            method: 'POST',
            target: `${path}?${query}`,
            headers: [
              ['Origin', `https://evil.example/${encoded}`],
              ['Cookie', cookie],
            ],
          });
          expect(refused.status).toBe(403);
          expect(refused.body.toString('utf8')).toBe(logoutRefusedPage(path));
          expectNoInjection(refused, payload);
        }
        const put = await rawRequest(testApp.url, {
          method: 'PUT',
          target: `/logout?${query}`,
          headers: [['Cookie', cookie]],
        });
        expect(put.status).toBe(405);
        expect(put.body.toString('utf8')).toBe(methodNotAllowedPage());
      }
    }
    await agent.get('/private').expect(200);
  });
});

/**
 * The callback's answer by its contract: no `state` lands (302); exactly one non-empty `state`
 * (the query parsed as a form, percent-decoded) equal to the state cookie (taken as sent) lands;
 * anything else is the mismatch page (400).
 */
function callbackStatus(target: string, cookie: string | undefined): 302 | 400 {
  const states = new URLSearchParams(target.slice(target.indexOf('?') + 1)).getAll('state');
  if (states.length === 0) return 302;
  return states.length === 1 && states[0] !== '' && states[0] === cookie ? 302 : 400;
}

describe('the logout callback: only ever the configured landing page', () => {
  it.each(PAYLOADS.map((p) => [JSON.stringify(p), p]))(
    '%s as state, as the state cookie, in every other parameter',
    async (_name, payload) => {
      for (const encoded of encodings(payload)) {
        const others = REDIRECT_PARAMS.filter((n) => n !== 'state')
          .map((name) => `${name}=${encoded}`)
          .join('&');
        const cookieValue = encoded.replace(/[;,\s"\\]/g, '');
        // Without state: the landing page; a state without a cookie: the mismatch page; a state
        // with a cookie: whichever the contract gives for that pair (see callbackStatus).
        const cases: Array<{ target: string; cookie?: string; status: 302 | 400 }> = [
          { target: `/logout/callback?${others}`, status: 302 },
          { target: `/logout/callback?state=${encoded}&${others}`, status: 400 },
          ...[
            `/logout/callback?state=${encoded}`,
            `/logout/callback?state=${cookieValue}&${others}`,
          ].map((target) => ({
            target,
            cookie: cookieValue,
            status: callbackStatus(target, cookieValue),
          })),
        ];
        for (const { target, cookie, status } of cases) {
          const response = await rawRequest(testApp.url, {
            method: 'GET',
            target,
            headers: cookie === undefined ? [] : [['Cookie', `oidc_logout_state=${cookie}`]],
          });
          expectNoInjection(response, payload);
          expect(response.status).toBe(status);
          if (status === 302) {
            expect(header(response, 'location')).toBe(LANDING);
          } else {
            expect(response.body.toString('utf8')).toBe(stateMismatchPage());
          }
        }
      }
    },
  );
});

describe('front- and back-channel: nothing reflected, nothing redirected', () => {
  it('the front channel answers its one page for every payload in iss, sid and the registration id', async () => {
    for (const payload of PAYLOADS) {
      for (const encoded of encodings(payload)) {
        for (const registration of ['main', encoded.replace(/\//g, '%2F')]) {
          const response = await rawRequest(testApp.url, {
            method: 'GET',
            target: `/logout/connect/front-channel/${registration}?iss=${encoded}&sid=${encoded}&${REDIRECT_PARAMS.map((n) => `${n}=${encoded}`).join('&')}`,
            headers: [['Host', `evil.example`]],
          });
          expectNoInjection(response, payload);
          expect(header(response, 'location')).toBeUndefined();
          if (header(response, 'cache-control') !== 'no-store') {
            // An invalid percent-encoding in the registration id: Express refuses it first.
            expect(response.status).toBe(400);
            continue;
          }
          expect(response.status).toBe(200);
          expect(response.body.toString('utf8')).toBe(FRONT_PAGE);
          expect(header(response, 'content-security-policy')).toMatch(
            new RegExp(
              `frame-ancestors (${new URL(op.issuer).origin.replace(/\./g, '\\.')}|'none')$`,
            ),
          );
        }
      }
    }
  });

  it('the back channel never echoes a payload in its JSON', async () => {
    for (const payload of PAYLOADS) {
      for (const encoded of encodings(payload)) {
        for (const registration of ['main', encoded.replace(/\//g, '%2F')]) {
          const response = await rawRequest(testApp.url, {
            method: 'POST',
            target: `/logout/connect/back-channel/${registration}?${REDIRECT_PARAMS.map((n) => `${n}=${encoded}`).join('&')}`,
            headers: [['Content-Type', 'application/x-www-form-urlencoded']],
            body: `logout_token=${encoded}&state=${encoded}`,
          });
          expectNoInjection(response, payload);
          expect(header(response, 'location')).toBeUndefined();
          expect(response.status).toBe(400);
          const text = response.body.toString('utf8');
          expect(header(response, 'content-type')).toMatch(/^application\/json/);
          for (const needle of ['<', 'evil', 'javascript', 'alert', 'X-Injected']) {
            expect(text).not.toContain(needle);
          }
        }
      }
    }
  });
});

describe('the guard: only ever the configured loginUrl', () => {
  it('a browser without a session goes to loginUrl whatever it sends', async () => {
    for (const payload of PAYLOADS) {
      const [encoded = ''] = encodings(payload);
      const response = await rawRequest(testApp.url, {
        method: 'GET',
        target: `/private?${REDIRECT_PARAMS.map((n) => `${n}=${encoded}`).join('&')}`,
        headers: [
          ['Accept', 'text/html'],
          ['X-Forwarded-Host', 'evil.example'],
          ['Referer', `https://evil.example/${encoded}`],
        ],
      });
      expect(response.status).toBe(302);
      expect(header(response, 'location')).toBe(LOGIN);
      expectNoInjection(response, payload);
    }
  });
});

describe('a hostile end_session_endpoint in the OP’s discovery document', () => {
  async function logoutAt(app: TestApp, registration: string) {
    const hostile = hostileOps[registration] as FakeOp;
    const { cookie } = await login(app, hostile.issuer);
    return rawRequest(app.url, {
      method: 'POST',
      target: '/logout',
      headers: [
        ['Cookie', cookie],
        ['Sec-Fetch-Site', 'same-origin'],
      ],
    });
  }

  it('markup in it: the redirect carries it URL-encoded, the form escapes it', async () => {
    const redirect = await logoutAt(testApp, 'op-quote');
    expect(redirect.status).toBe(302);
    expectNoInjection(redirect, 'op-quote');
    const location = header(redirect, 'location') ?? '';
    expect(
      location.startsWith(`${new URL(hostileOps['op-quote']?.issuer ?? '').origin}/logout?`),
    ).toBe(true);
    const form = await logoutAt(formApp, 'op-quote');
    expect(form.status).toBe(200);
    const html = form.body.toString('utf8');
    expect(html).not.toContain('"><script>');
    expect(html.match(/<script>/g)).toHaveLength(1);
  });

  it.each(['op-javascript', 'op-data', 'op-crlf', 'op-tab'])(
    '%s: the document is refused (not an absolute http(s) URL), so no login of that OP is recorded',
    async (registration) => {
      // Before discovery refused them, CR/LF in end_session_endpoint made every RP-initiated logout
      // of that OP a 500 (Node refuses the Location header), and a tab went out in the Location.
      const hostile = hostileOps[registration] as FakeOp;
      const idToken = await signIdToken(keys, { iss: hostile.issuer, aud: 'app-main' });
      for (const app of [testApp, formApp]) {
        const response = await request(app.url).post('/test/login').send({ idToken });
        expect(response.status).toBe(400);
        expect(response.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
      }
    },
  );
});
