import { Logger, type INestApplication } from '@nestjs/common';
import type { NextFunction, Request, Response } from 'express';
import { randomUUID } from 'node:crypto';
import request from 'supertest';
import {
  afterAll,
  afterEach,
  beforeAll,
  beforeEach,
  describe,
  expect,
  it,
  vi,
  type MockInstance,
} from 'vitest';
import type { OidcRevocationEvent } from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { isActive, logIn } from '../fixtures/login';
import { RecordingRepository, type RepositoryCall } from '../fixtures/recording-repository';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/** Registrations of the app under test, all at the same OP unless said otherwise. */
const MAIN = { registrationId: 'main', clientId: 'app-main' };
const SIBLING = { registrationId: 'sibling', clientId: 'app-sibling' };
const ENTRA = { registrationId: 'entra', clientId: 'app-entra' };
const DISABLED = { registrationId: 'disabled', clientId: 'app-disabled' };
const OPTIONAL = { registrationId: 'optional', clientId: 'app-optional' };
type Client = { registrationId: string; clientId: string };

const PAGE_TEXT = 'Logout request processed.';
const PREFIX = '/logout/connect/front-channel';
/** Repository calls that change something: none may happen for a refused request. */
const WRITES: readonly RepositoryCall[] = [
  'save',
  'remove',
  'removeByLogoutToken',
  'begin',
  'complete',
];

let keys: TestKeySet;
let op: FakeOp;
let opOrigin: string;
let repository: RecordingRepository;
let testApp: TestApp;
const events: OidcRevocationEvent[] = [];
type LogSpy = MockInstance<(message: unknown, ...rest: unknown[]) => void>;
let warn: LogSpy;
let log: LogSpy;
let error: LogSpy;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
  opOrigin = new URL(op.issuer).origin;
  repository = new RecordingRepository();
  testApp = await startTestApp({
    oidc: {
      clients: [
        { ...MAIN, issuer: op.issuer },
        { ...SIBLING, issuer: op.issuer },
        { ...ENTRA, issuer: op.issuer, frontChannel: { allowMissingIssuer: true } },
        { ...DISABLED, issuer: op.issuer, frontChannel: false },
        { ...OPTIONAL, issuer: op.issuer, frontChannel: { sessionRequired: false } },
      ],
      sessionRepository: repository,
      logoutEventStore: repository.events,
      onRevocation: (event) => {
        events.push(event);
      },
    },
  });
});

afterAll(async () => {
  await testApp?.close();
  await op?.close();
});

beforeEach(() => {
  events.length = 0;
  repository.failing.clear();
  warn = vi.spyOn(Logger.prototype, 'warn').mockImplementation(() => undefined);
  log = vi.spyOn(Logger.prototype, 'log').mockImplementation(() => undefined);
  error = vi.spyOn(Logger.prototype, 'error').mockImplementation(() => undefined);
});

afterEach(() => {
  vi.restoreAllMocks();
});

/** A logged-in browser of that client, in the OP session `sid`. */
async function login(client: Client, sub: string, sid: string, url = testApp.url) {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: client.clientId, sub, sid });
  return (await logIn(url, idToken)).agent;
}

/**
 * The browsers around one OP session `sid` of user `sub`: two app sessions of `client` in it, the
 * same OP session at the sibling client (another client of the same OP), the user's other OP
 * session, and another user.
 */
async function scene(client: Client = MAIN) {
  const sub = `user-${randomUUID()}`;
  const sid = `sid-${randomUUID()}`;
  const browsers = {
    target: await login(client, sub, sid),
    targetTwin: await login(client, sub, sid),
    sibling: await login(SIBLING, sub, sid),
    sameUser: await login(client, sub, `sid-${randomUUID()}`),
    otherUser: await login(client, `user-${randomUUID()}`, `sid-${randomUUID()}`),
  };
  return { sub, sid, browsers };
}

type Browsers = Awaited<ReturnType<typeof scene>>['browsers'];

async function activity(browsers: Browsers): Promise<Record<keyof Browsers, boolean>> {
  const entries = await Promise.all(
    Object.entries(browsers).map(async ([name, agent]) => [name, await isActive(agent)] as const),
  );
  return Object.fromEntries(entries) as Record<keyof Browsers, boolean>;
}

const ALL_ACTIVE = {
  target: true,
  targetTwin: true,
  sibling: true,
  sameUser: true,
  otherUser: true,
};

/** GET of the front-channel URL of a registration with a raw query string (`?...` or ''). */
function frontChannel(registrationId: string, query: string, agent?: request.Agent) {
  const path = `${PREFIX}/${registrationId}${query}`;
  return agent ? agent.get(path) : request(testApp.url).get(path);
}

const q = (params: Record<string, string>) => `?${new URLSearchParams(params).toString()}`;

function cspDirectives(response: request.Response): Map<string, string[]> {
  const header = response.headers['content-security-policy'];
  expect(header).toBeTypeOf('string');
  const directives = new Map<string, string[]>();
  for (const part of (header ?? '').split(';')) {
    const [name, ...values] = part.trim().split(/\s+/);
    if (name) directives.set(name.toLowerCase(), values);
  }
  return directives;
}

/** The one page every handled GET gets: 200, uncacheable, frameable only by `frameAncestor`. */
function expectPage(
  response: request.Response,
  { status = 200, frameAncestor = opOrigin }: { status?: number; frameAncestor?: string } = {},
) {
  expect(response.status).toBe(status);
  expect(response.headers['cache-control']).toBe('no-store');
  expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
  expect(response.headers['x-frame-options']).toBeUndefined();
  expect(response.headers['referrer-policy']).toBe('no-referrer');
  expect(response.headers['set-cookie']).toBeUndefined();
  const csp = cspDirectives(response);
  expect(csp.get('frame-ancestors')).toEqual([frameAncestor]);
  expect(csp.get('default-src')).toEqual(["'none'"]);
  if (status === 200) {
    expect(response.text).toMatch(/^<!doctype html>/);
    expect(response.text).toContain(PAGE_TEXT);
  }
}

function rejections(): unknown[] {
  return warn.mock.calls
    .map((call) => call[0])
    .filter(
      (entry) =>
        (entry as { event?: string } | undefined)?.event === 'oidc_front_channel_logout_rejected',
    );
}

/** Exactly one log line for the refusal, with its reason and no sid, sub or issuer in it. */
function expectOneRejection(reason: string, secrets: string[]) {
  expect(rejections()).toEqual([expect.objectContaining({ reason })]);
  const logged = JSON.stringify([warn.mock.calls, log.mock.calls, error.mock.calls]);
  for (const secret of secrets) expect(logged).not.toContain(secret);
}

describe('front-channel logout: the OP session named by iss and sid is ended, without a cookie', () => {
  it('ends exactly the app sessions of that OP session at this client', async () => {
    const s = await scene();
    repository.calls.length = 0;
    const response = await frontChannel('main', q({ iss: op.issuer, sid: s.sid }));
    expectPage(response);
    expect(await activity(s.browsers)).toEqual({
      target: false,
      targetTwin: false,
      sibling: true, // the same OP session at another client is that client's business
      sameUser: true,
      otherUser: true,
    });
    expect(events).toEqual([
      expect.objectContaining({
        channel: 'front-channel',
        registrationId: 'main',
        clientId: MAIN.clientId,
        sid: s.sid,
        sessions: [expect.anything(), expect.anything()],
      }),
    ]);
    expect(events[0]?.sub).toBeUndefined();
    expect(rejections()).toEqual([]);
    expect(log.mock.calls.map((c) => c[0])).toContainEqual({
      event: 'oidc_front_channel_logout',
      registrationId: 'main',
      by: 'sid',
      sessions: 2,
    });
  });

  it('the sibling registration ends only its own sessions of that OP session', async () => {
    const s = await scene();
    expectPage(await frontChannel('sibling', q({ iss: op.issuer, sid: s.sid })));
    expect(await activity(s.browsers)).toEqual({ ...ALL_ACTIVE, sibling: false });
  });

  it("works with the user's own cookie too (same-site OP), and sets no cookie", async () => {
    const s = await scene();
    const response = await frontChannel(
      'main',
      q({ iss: op.issuer, sid: s.sid }),
      s.browsers.target,
    );
    expectPage(response);
    expect(await activity(s.browsers)).toMatchObject({ target: false, targetTwin: false });
  });

  it('a sid that matches no session: the same 200 page, nothing else revoked', async () => {
    const s = await scene();
    const response = await frontChannel('main', q({ iss: op.issuer, sid: `sid-${randomUUID()}` }));
    expectPage(response);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expect(rejections()).toEqual([]);
  });

  it('a second delivery of the same logout is harmless', async () => {
    const s = await scene();
    const url = q({ iss: op.issuer, sid: s.sid });
    expectPage(await frontChannel('main', url));
    expectPage(await frontChannel('main', url));
    expect(await activity(s.browsers)).toMatchObject({ target: false, sameUser: true });
  });

  it('writes nothing to the store for a sid that matches no session (no write per anonymous GET)', async () => {
    const sid = `sid-${randomUUID()}`;
    repository.calls.length = 0;
    expectPage(await frontChannel('main', q({ iss: op.issuer, sid })));
    expect(repository.calls).not.toContain('begin');
    // No tombstone either: the front channel is the user's own browser, after its login completed.
    const idToken = await signIdToken(keys, { iss: op.issuer, aud: MAIN.clientId, sub: 'x', sid });
    const later = await request.agent(testApp.url).post('/test/login').send({ idToken });
    expect(later.status).toBe(200);
  });
});

describe('Microsoft Entra ID compatibility (allowMissingIssuer)', () => {
  it('accepts a sid without iss for that registration', async () => {
    const s = await scene(ENTRA);
    expectPage(await frontChannel('entra', q({ sid: s.sid })));
    expect(await activity(s.browsers)).toEqual({ ...ALL_ACTIVE, target: false, targetTwin: false });
  });

  it('still checks iss when the OP sends it', async () => {
    const s = await scene(ENTRA);
    const response = await frontChannel('entra', q({ iss: `${op.issuer}/other`, sid: s.sid }));
    expectPage(response);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expectOneRejection('issuer_mismatch', [s.sid]);
  });

  it('a registration without it refuses a sid without iss', async () => {
    const s = await scene(MAIN);
    expectPage(await frontChannel('main', q({ sid: s.sid })));
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expectOneRejection('missing_iss', [s.sid]);
  });
});

describe('front-channel requests that revoke nothing: the same 200 page, one log line', () => {
  const longSid = 'x'.repeat(600);
  const cases: [string, (ctx: { sid: string; iss: string }) => string, string][] = [
    ['wrong iss', ({ sid }) => q({ iss: 'https://evil.example.test', sid }), 'issuer_mismatch'],
    ['iss with a trailing slash', ({ sid, iss }) => q({ iss: `${iss}/`, sid }), 'issuer_mismatch'],
    [
      'iss in another case',
      ({ sid, iss }) => q({ iss: iss.toUpperCase(), sid }),
      'issuer_mismatch',
    ],
    ['iss without sid', ({ iss }) => q({ iss }), 'missing_sid'],
    ['sid without iss', ({ sid }) => q({ sid }), 'missing_iss'],
    ['neither iss nor sid', () => '', 'missing_parameters'],
    ['an empty query', () => '?', 'missing_parameters'],
    [
      'repeated sid',
      ({ sid, iss }) => `${q({ iss, sid })}&sid=${encodeURIComponent(sid)}`,
      'repeated_parameter',
    ],
    [
      'repeated iss',
      ({ sid, iss }) => `${q({ iss, sid })}&iss=${encodeURIComponent(iss)}`,
      'repeated_parameter',
    ],
    [
      'a second, different sid',
      ({ sid, iss }) => `${q({ iss, sid })}&sid=other`,
      'repeated_parameter',
    ],
    ['an empty sid', ({ iss }) => `${q({ iss })}&sid=`, 'empty_parameter'],
    ['an empty iss', ({ sid }) => `?iss=&sid=${encodeURIComponent(sid)}`, 'empty_parameter'],
    [
      'array-style parameters',
      ({ sid, iss }) => `?iss[]=${encodeURIComponent(iss)}&sid[a]=${encodeURIComponent(sid)}`,
      'missing_parameters',
    ],
    [
      'broken percent-encoding',
      ({ sid }) => `?iss=%E0%A4%A&sid=${encodeURIComponent(sid)}&%zz=%`,
      'issuer_mismatch',
    ],
    [
      'parameter names in another case',
      ({ sid, iss }) => q({ ISS: iss, SID: sid }),
      'missing_parameters',
    ],
    ['an oversized sid', ({ iss }) => q({ iss, sid: longSid }), 'sid_too_long'],
  ];

  it.each(cases)('%s', async (_name, query, reason) => {
    const s = await scene();
    repository.calls.length = 0;
    const response = await frontChannel('main', query({ sid: s.sid, iss: op.issuer }));
    expectPage(response);
    expect(repository.calls.filter((call) => WRITES.includes(call))).toEqual([]);
    expect(events).toEqual([]);
    expectOneRejection(reason, [s.sid, s.sub]);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });

  it.each([
    ['an unknown registration', '/no-such-registration'],
    ['a registration id that is not one', '/%3Cscript%3E'],
  ])('%s: frame-ancestors none', async (_name, path) => {
    const s = await scene();
    repository.calls.length = 0;
    const response = await request(testApp.url).get(
      `${PREFIX}${path}${q({ iss: op.issuer, sid: s.sid })}`,
    );
    expectPage(response, { frameAncestor: "'none'" });
    expect(repository.calls).toEqual([]);
    expectOneRejection('unknown_registration', [s.sid, '<script>', 'no-such-registration']);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });

  it('a registration with frontChannel: false', async () => {
    const s = await scene(DISABLED);
    repository.calls.length = 0;
    const response = await frontChannel('disabled', q({ iss: op.issuer, sid: s.sid }));
    expectPage(response);
    expect(repository.calls).toEqual([]);
    expectOneRejection('front_channel_disabled', [s.sid]);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });

  it('a refused request carrying the user’s own cookie changes nothing and sets no cookie', async () => {
    const s = await scene();
    const response = await frontChannel(
      'main',
      q({ iss: 'https://evil.example.test', sid: s.sid }),
      s.browsers.target,
    );
    expectPage(response);
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'] as const)(
    '%s: 405 with Allow: GET, HEAD, nothing revoked',
    async (method) => {
      const s = await scene();
      const url = `${PREFIX}/main${q({ iss: op.issuer, sid: s.sid })}`;
      const agent = request(testApp.url);
      const response = await agent[method.toLowerCase() as 'post'](url)
        .type('form')
        .send(`iss=${encodeURIComponent(op.issuer)}&sid=${s.sid}`);
      expectPage(response, { status: 405 });
      expect(response.headers.allow).toBe('GET, HEAD');
      expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    },
  );

  it('HEAD: the headers of the page, no body, nothing revoked', async () => {
    const s = await scene();
    const response = await request(testApp.url).head(
      `${PREFIX}/main${q({ iss: op.issuer, sid: s.sid })}`,
    );
    expect(response.status).toBe(200);
    expect(response.headers['cache-control']).toBe('no-store');
    expect(cspDirectives(response).get('frame-ancestors')).toEqual([opOrigin]);
    expect(response.headers['set-cookie']).toBeUndefined();
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });
});

describe('sessionRequired: false (neither iss nor sid: the request’s own session)', () => {
  it('ends the OP session of the session cookie the iframe carried, and the local session', async () => {
    const s = await scene(OPTIONAL);
    const response = await frontChannel('optional', '', s.browsers.target);
    expectPage(response);
    expect(await activity(s.browsers)).toEqual({ ...ALL_ACTIVE, target: false, targetTwin: false });
    expect(events).toEqual([expect.objectContaining({ channel: 'front-channel', sid: s.sid })]);
  });

  it('a session whose login had no sid: that session ends, and the listeners and the audit line are told', async () => {
    const sub = `user-${randomUUID()}`;
    const idToken = await signIdToken(keys, {
      iss: op.issuer,
      aud: OPTIONAL.clientId,
      sub,
      sid: undefined,
    });
    const browsers = {
      target: (await logIn(testApp.url, idToken)).agent,
      twin: (await logIn(testApp.url, idToken)).agent,
    };
    expect(await activity(browsers as unknown as Browsers)).toEqual({ target: true, twin: true });
    expectPage(await frontChannel('optional', '', browsers.target));
    // Without a sid the cookie names one session: the twin is the user's other session.
    expect(await activity(browsers as unknown as Browsers)).toEqual({ target: false, twin: true });
    expect(events).toEqual([
      expect.objectContaining({
        channel: 'front-channel',
        registrationId: 'optional',
        sub,
        sessions: [expect.objectContaining({ sub, registrationId: 'optional' })],
      }),
    ]);
    expect(events[0]).not.toHaveProperty('sid');
    expect(log.mock.calls.map((c) => c[0])).toContainEqual({
      event: 'oidc_logout_revocation',
      channel: 'front-channel',
      registrationId: 'optional',
      sessions: 1,
      named: 'session',
    });
  });

  it('without a cookie (third-party cookies blocked): nothing to end, 200', async () => {
    const s = await scene(OPTIONAL);
    expectPage(await frontChannel('optional', ''));
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expect(events).toEqual([]);
  });

  it("a cookie of another registration's session is left alone", async () => {
    const s = await scene(MAIN);
    expectPage(await frontChannel('optional', '', s.browsers.target));
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });

  it('iss and sid still work, and are still checked', async () => {
    const s = await scene(OPTIONAL);
    expectPage(await frontChannel('optional', q({ iss: 'https://evil.example.test', sid: s.sid })));
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expectPage(await frontChannel('optional', q({ iss: op.issuer, sid: s.sid })));
    expect(await activity(s.browsers)).toMatchObject({ target: false, sameUser: true });
  });
});

describe('front-channel logout when the session store fails', () => {
  it('503 with a generic page and an error log line; the OP’s next try applies it', async () => {
    const s = await scene();
    repository.failing.add('removeByLogoutToken');
    const response = await frontChannel('main', q({ iss: op.issuer, sid: s.sid }));
    expectPage(response, { status: 503 });
    expect(response.text).toContain('The logout could not be completed.');
    expect(response.text).not.toMatch(/connection refused|repository|stack/i);
    expect(error.mock.calls.map((c) => c[0])).toContainEqual({
      event: 'oidc_front_channel_logout_failed',
      registrationId: 'main',
      reason: 'repository_unavailable',
    });
    repository.failing.clear();
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
    expectPage(await frontChannel('main', q({ iss: op.issuer, sid: s.sid })));
    expect(await activity(s.browsers)).toMatchObject({ target: false, targetTwin: false });
  });

  it('a failing removal: 503 too, never a 200 that claims it', async () => {
    const s = await scene();
    repository.failing.add('removeByLogoutToken');
    expectPage(await frontChannel('main', q({ iss: op.issuer, sid: s.sid })), { status: 503 });
    repository.failing.clear();
    expect(await activity(s.browsers)).toEqual(ALL_ACTIVE);
  });
});

/** An app whose own middleware sets helmet's framing headers before the module's route runs. */
describe('with helmet-like headers set app-wide', () => {
  let app: INestApplication;
  let url: string;
  const CUSTOM = { registrationId: 'custom', clientId: 'app-custom' };

  beforeAll(async () => {
    ({ app, url } = await startTestApp({
      oidc: {
        clients: [{ ...CUSTOM, issuer: op.issuer }],
        routes: { frontChannel: '/oidc/front-channel' },
        sessionRepository: new RecordingRepository(),
      },
      logger: false,
      beforeSessions: (helmetApp) =>
        helmetApp.use((_req: Request, res: Response, next: NextFunction) => {
          // What helmet() sets by default, in short.
          res.setHeader('X-Frame-Options', 'SAMEORIGIN');
          res.setHeader(
            'Content-Security-Policy',
            "default-src 'self';frame-ancestors 'self';object-src 'none'",
          );
          res.setHeader('X-DNS-Prefetch-Control', 'off');
          next();
        }),
    }));
  });

  afterAll(async () => {
    await app?.close();
  });

  it("other routes keep the app's headers", async () => {
    const response = await request(url).get('/public');
    expect(response.headers['x-frame-options']).toBe('SAMEORIGIN');
    expect(response.headers['content-security-policy']).toContain("frame-ancestors 'self'");
  });

  it('the front-channel page has no X-Frame-Options and only its own CSP; logout works', async () => {
    const sid = `sid-${randomUUID()}`;
    const agent = await login(CUSTOM, 'helmet-user', sid, url);
    await agent.get('/private').expect(200);
    const response = await request(url).get(
      `/oidc/front-channel/custom${q({ iss: op.issuer, sid })}`,
    );
    expectPage(response);
    expect(response.headers['content-security-policy']).not.toContain("'self'");
    // Only the framing headers are changed: the rest of the app's headers stay.
    expect(response.headers['x-dns-prefetch-control']).toBe('off');
    await agent.get('/private').expect(401);
  });

  it('refused requests get the same headers', async () => {
    const response = await request(url).get(`/oidc/front-channel/custom${q({ sid: 'x' })}`);
    expectPage(response);
    const unknown = await request(url).get('/oidc/front-channel/nope');
    expectPage(unknown, { frameAncestor: "'none'" });
  });

  it('the default path is not bound when another is configured', async () => {
    const response = await request(url).get(`${PREFIX}/custom`);
    expect(response.status).toBe(404);
  });
});
