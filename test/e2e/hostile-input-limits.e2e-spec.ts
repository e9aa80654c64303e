import type { INestApplication } from '@nestjs/common';
import express, { type NextFunction, type Request, type Response } from 'express';
import { randomUUID } from 'node:crypto';
import type { Server } from 'node:http';
import { connect } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { OidcLogoutModuleOptions } from '../../lib';
import { BACK_CHANNEL_MAX_BODY_BYTES } from '../../lib/endpoints/back-channel-logout.handler';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
import {
  header,
  rawRequest,
  requestBytes,
  type RawRequest,
  type RawResponse,
} from '../fixtures/raw-http';
import { startTestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

/**
 * Resource limits of the module's endpoints on a real Nest app: 10 MiB bodies, 10,000 parameters,
 * deeply nested JSON and form structures, invalid UTF-8, slow clients. Each is refused quickly,
 * memory stays bounded, other requests keep being served.
 *
 * Two setups:
 * - Nest's default: Express's JSON and url-encoded parsers (100 kb, 1000 parameters, depth 32) are
 *   mounted globally, but the module reads the back-channel body ahead of them (64 KiB, counted as it
 *   arrives): every back-channel refusal has the library's shape. The other endpoints' bodies are
 *   still read by Express's parsers (Nest's JSON error shape there).
 * - An app created with `bodyParser: false` whose own parsers skip the module's paths: the module
 *   reads the raw body itself, bounded at 64 KiB, and every refusal has the library's shape.
 *
 * Slow clients are bounded by Node's `headersTimeout` / `requestTimeout` (60 s / 300 s by default),
 * which are the application's to set; the module holds nothing for them.
 */

const MIB = 1024 * 1024;
const BACK = '/logout/connect/back-channel/main';
const CLIENT_ID = 'app-main';
/** Every refusal must come this fast, even for a 10 MiB upload. */
const QUICK_MS = 1_000;

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});

afterAll(async () => {
  await op?.close();
});

interface App {
  app: INestApplication;
  url: string;
  server: Server;
  close(): Promise<void>;
}

/**
 * A real Nest app with the module, express-session and the test controller. With `bodyParser: false`
 * the app registers Express's parsers itself, for every path but the module's.
 */
async function startApp(
  options: { bodyParser: boolean; beforeListen?: (server: Server) => void },
  oidc: Partial<OidcLogoutModuleOptions> = {},
): Promise<App> {
  const { app, url, close } = await startTestApp({
    oidc: {
      clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
      ...oidc,
    },
    logger: ['error'],
    bodyParser: options.bodyParser,
    beforeSessions: (limitsApp) => {
      if (!options.bodyParser) {
        // The documented setup that keeps the module's own limits: the app's parsers skip its paths.
        const json = express.json();
        const form = express.urlencoded({ extended: false });
        const skipLogout =
          (parser: express.RequestHandler) => (req: Request, res: Response, next: NextFunction) =>
            req.path.startsWith('/logout') ? next() : parser(req, res, next);
        limitsApp.use(skipLogout(json));
        limitsApp.use(skipLogout(form));
      }
      options.beforeListen?.(limitsApp.getHttpServer() as Server);
    },
  });
  return { app, url, server: app.getHttpServer() as Server, close };
}

/** A logged-in browser (its sid and sub random), and the valid logout token that names it. */
async function login(url: string) {
  const sid = `sid-${randomUUID()}`;
  const sub = `sub-${randomUUID()}`;
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sid, sub });
  const { agent } = await logIn(url, idToken);
  // A refused request carrying it must leave the session active: a wrongful revocation is seen.
  const token = await signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sid, sub });
  return { agent, token };
}

/** A valid logout token for an OP session of nobody logged in here. */
function strangerToken(): Promise<string> {
  return signLogoutToken(keys, {
    issuer: op.issuer,
    clientId: CLIENT_ID,
    sid: `stranger-${randomUUID()}`,
    sub: `stranger-${randomUUID()}`,
  });
}

function post(
  target: string,
  type: string | undefined,
  body: Buffer | string,
  extra: Array<[string, string]> = [],
): RawRequest {
  return {
    method: 'POST',
    target,
    headers: [
      ...(type === undefined ? [] : ([['Content-Type', type]] as Array<[string, string]>)),
      ...extra,
    ],
    body,
  };
}

/** The same body, framed chunked (no Content-Length: the server learns its size by reading it). */
function chunked(raw: RawRequest): RawRequest {
  const body = Buffer.isBuffer(raw.body) ? raw.body : Buffer.from(raw.body ?? '');
  const parts: Buffer[] = [];
  for (let offset = 0; offset < body.length; offset += 64 * 1024) {
    const part = body.subarray(offset, offset + 64 * 1024);
    parts.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
  }
  parts.push(Buffer.from('0\r\n\r\n'));
  return {
    ...raw,
    headers: [...(raw.headers ?? []), ['Transfer-Encoding', 'chunked']],
    body: Buffer.concat(parts),
  };
}

/** The library's back-channel refusal: `{error, error_description}`, no-store. */
function expectLibraryError(
  response: RawResponse,
  status: number,
  description: unknown = expect.any(String),
): void {
  expect(response.status, response.body.toString()).toBe(status);
  expect(header(response, 'cache-control')).toBe('no-store');
  expect(header(response, 'content-type')).toBe('application/json; charset=utf-8');
  expect(JSON.parse(response.body.toString('utf8'))).toEqual({
    error: 'invalid_request',
    error_description: description,
  });
}

const TOO_LARGE = 'the body is larger than 65536 bytes';

/**
 * Known gap: Express's parser refused the request before the module's handler ran; Nest answered
 * with its own JSON error (no `error_description`, no `Cache-Control: no-store`).
 */
function expectFrameworkError(response: RawResponse, status: number, message?: RegExp): void {
  expect(response.status, response.body.toString()).toBe(status);
  expect(header(response, 'cache-control')).toBeUndefined();
  const body = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
  expect(body).toMatchObject({ statusCode: status, message: expect.any(String) });
  if (message) expect(body.message).toMatch(message);
}

function expectQuick(response: RawResponse): void {
  expect(response.timedOut).toBe(false);
  expect(response.complete).toBe(true);
  expect(response.elapsedMs).toBeLessThan(QUICK_MS);
}

const TEN_MIB_FORM = Buffer.alloc(10 * MIB, 'a');
/** 10,000 distinct parameters in 59 KB: under both the module's 64 KiB and Express's 100 kb. */
const TEN_THOUSAND_PARAMS = Array.from({ length: 10_000 }, (_, i) => `${i.toString(36)}=1`).join(
  '&',
);

describe('with Nest’s default body parsers in front of the module', () => {
  let app: App;
  let agents: Array<ReturnType<typeof request.agent>>;
  /** The valid logout token of agents[0]'s session. */
  let firstToken: string;

  beforeAll(async () => {
    app = await startApp({ bodyParser: true });
    const sessions = await Promise.all(Array.from({ length: 5 }, () => login(app.url)));
    agents = sessions.map((session) => session.agent);
    firstToken = sessions[0]!.token;
  });

  afterAll(async () => {
    await app?.close();
  });

  /** Ordinary traffic: a guarded route, a valid back-channel logout, a front-channel page. */
  async function probe(): Promise<number> {
    const started = performance.now();
    await (agents[0] as ReturnType<typeof request.agent>).get('/private').expect(200);
    const token = await strangerToken();
    const back = await rawRequest(
      app.url,
      post(BACK, 'application/x-www-form-urlencoded', `logout_token=${token}`),
    );
    expect(back.status).toBe(200);
    const front = await rawRequest(app.url, {
      method: 'GET',
      target: `/logout/connect/front-channel/main?iss=${encodeURIComponent(op.issuer)}&sid=nobody`,
    });
    expect(front.status).toBe(200);
    return performance.now() - started;
  }

  async function expectAllActive(): Promise<void> {
    for (const agent of agents) await agent.get('/private').expect(200);
  }

  it('10 MiB bodies are refused within a second at every endpoint, Content-Length or chunked', async () => {
    const form = 'application/x-www-form-urlencoded';
    for (const frame of [(r: RawRequest) => r, chunked]) {
      // Back channel, form or JSON: the module's 64 KiB bound, ahead of Express's parsers.
      for (const type of [form, 'application/json']) {
        const response = await rawRequest(app.url, frame(post(BACK, type, TEN_MIB_FORM)), 5_000);
        expectQuick(response);
        expectLibraryError(response, 413);
      }
      // Any other type: the same bound (the body is read ahead of any parser, whatever its type).
      for (const type of ['text/plain', 'application/octet-stream', undefined]) {
        const response = await rawRequest(app.url, frame(post(BACK, type, TEN_MIB_FORM)), 5_000);
        expectQuick(response);
        expectLibraryError(response, 413);
      }
      // The front channel and the logout page refuse a form body Express will not parse either.
      const front = await rawRequest(
        app.url,
        frame({
          method: 'GET',
          target: '/logout/connect/front-channel/main',
          headers: [['Content-Type', form]],
          body: TEN_MIB_FORM,
        }),
        5_000,
      );
      expectQuick(front);
      expectFrameworkError(front, 413);
      const logout = await rawRequest(
        app.url,
        frame(post('/logout', form, TEN_MIB_FORM, [['Sec-Fetch-Site', 'same-origin']])),
        5_000,
      );
      expectQuick(logout);
      expectFrameworkError(logout, 413);
      // A body Express leaves alone does not matter to the callback: the landing page.
      const callback = await rawRequest(
        app.url,
        frame({
          method: 'GET',
          target: '/logout/callback',
          headers: [['Content-Type', 'text/plain']],
          body: TEN_MIB_FORM,
        }),
        5_000,
      );
      expectQuick(callback);
      expect(callback.status).toBe(302);
    }
    // Between the library's 64 KiB and Express's 100 kb: the library's own 413.
    const between = await rawRequest(
      app.url,
      post(BACK, form, `logout_token=${firstToken}&pad=${'x'.repeat(BACK_CHANNEL_MAX_BODY_BYTES)}`),
    );
    expectQuick(between);
    expectLibraryError(between, 413, TOO_LARGE);
    expect(await probe()).toBeLessThan(QUICK_MS);
    await expectAllActive();
  });

  it('10,000 parameters: read by the module (not Express), refused at once, a long query still served', async () => {
    const response = await rawRequest(
      app.url,
      post(BACK, 'application/x-www-form-urlencoded', `${TEN_THOUSAND_PARAMS}&logout_token=x`),
    );
    expectQuick(response);
    expectLibraryError(response, 400);
    // 10,000 fields as JSON (77 KB): over the module's bound, refused before anything parses it.
    const json = await rawRequest(
      app.url,
      post(
        BACK,
        'application/json',
        JSON.stringify(
          Object.fromEntries(Array.from({ length: 10_000 }, (_, i) => [i.toString(36), 1])),
        ),
      ),
    );
    expectQuick(json);
    expectLibraryError(json, 413);
    // The query is bounded by Node's 16 KiB header limit: 2,000 parameters, 1,000 of them sid.
    const query = Array.from({ length: 1_000 }, (_, i) => `sid=s${i}&x${i}=1`).join('&');
    const front = await rawRequest(app.url, {
      method: 'GET',
      target: `/logout/connect/front-channel/main?iss=${encodeURIComponent(op.issuer)}&${query}`,
    });
    expectQuick(front);
    expect(front.status).toBe(200);
    const tooLong = await rawRequest(app.url, {
      method: 'GET',
      target: `/logout/connect/front-channel/main?${'sid=x&'.repeat(5_000)}`,
    });
    expectQuick(tooLong);
    expect(tooLong.status).toBe(431);
    await expectAllActive();
  });

  it('deeply nested JSON and form structures: refused at once, the process unharmed', async () => {
    const depth = 40_000;
    const arrays = await rawRequest(
      app.url,
      post(BACK, 'application/json', `${'['.repeat(depth)}${']'.repeat(depth)}`),
    );
    expectQuick(arrays);
    // 80 KB: over the module's bound, refused before anything parses it.
    expectLibraryError(arrays, 413);
    const objects = await rawRequest(
      app.url,
      post(BACK, 'application/json', `${'{"a":'.repeat(15_000)}1${'}'.repeat(15_000)}`),
    );
    expectQuick(objects);
    expectLibraryError(objects, 413);
    const unbalanced = await rawRequest(
      app.url,
      post(BACK, 'application/json', '['.repeat(90_000)),
    );
    expectQuick(unbalanced);
    expectLibraryError(unbalanced, 413);
    // qs-style nesting in a form means nothing to the module: `logout_token[a]...` is not the field.
    const nested = await rawRequest(
      app.url,
      post(BACK, 'application/x-www-form-urlencoded', `logout_token${'[a]'.repeat(5_000)}=1`),
    );
    expectQuick(nested);
    expectLibraryError(nested, 400);
    const shallow = await rawRequest(
      app.url,
      post(BACK, 'application/x-www-form-urlencoded', `logout_token${'[a]'.repeat(20)}=1`),
    );
    expectQuick(shallow);
    expectLibraryError(shallow, 400);
    // A validly signed logout token whose claims nest 1,800 levels deep (within its 16 KiB bound).
    const deepClaim = JSON.parse(`${'{"a":'.repeat(1_800)}1${'}'.repeat(1_800)}`) as unknown;
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      clientId: CLIENT_ID,
      sid: `stranger-${randomUUID()}`,
      claims: { deep: deepClaim },
    });
    const signed = await rawRequest(
      app.url,
      post(BACK, 'application/x-www-form-urlencoded', `logout_token=${token}`),
    );
    expectQuick(signed);
    expect(signed.status, signed.body.toString()).toBe(200);
    expect(await probe()).toBeLessThan(QUICK_MS);
    await expectAllActive();
  });

  it('invalid UTF-8 in bodies, queries, paths and headers: 400 or the page, never a 5xx', async () => {
    const token = await strangerToken();
    const invalid = [
      Buffer.from([0xff, 0xfe, 0xc0, 0xaf]),
      Buffer.from([0xed, 0xa0, 0x80]),
      Buffer.from([0xf4, 0x90, 0x80, 0x80]),
    ];
    for (const bytes of invalid) {
      const rawBody = Buffer.concat([Buffer.from('logout_token='), bytes, Buffer.from(token)]);
      const response = await rawRequest(
        app.url,
        post(BACK, 'application/x-www-form-urlencoded', rawBody),
      );
      expectQuick(response);
      expectLibraryError(response, 400);
      const rawQuery = await rawRequest(app.url, {
        method: 'GET',
        target: Buffer.concat([
          Buffer.from(
            `/logout/connect/front-channel/main?iss=${encodeURIComponent(op.issuer)}&sid=`,
          ),
          bytes,
        ]),
      });
      expectQuick(rawQuery);
      // Node's parser refuses raw bytes above 0x7f in the request target, or the page is served.
      expect([200, 400]).toContain(rawQuery.status);
      const origin = await rawRequest(app.url, {
        method: 'POST',
        target: '/logout',
        headers: [
          ['Origin', Buffer.concat([Buffer.from('http://'), bytes])],
          ['Sec-Fetch-Site', 'same-origin'],
        ],
      });
      expectQuick(origin);
      expect([400, 403]).toContain(origin.status);
    }
    for (const escape of [
      '%FF%FE',
      '%C0%AF',
      '%ED%A0%80',
      '%F4%90%80%80',
      '%E0%80%AF',
      '%',
      '%G0',
    ]) {
      const body = await rawRequest(
        app.url,
        post(BACK, 'application/x-www-form-urlencoded', `logout_token=${escape}${token}`),
      );
      expectQuick(body);
      expectLibraryError(body, 400);
      const front = await rawRequest(app.url, {
        method: 'GET',
        target: `/logout/connect/front-channel/main?iss=${encodeURIComponent(op.issuer)}&sid=${escape}`,
      });
      expectQuick(front);
      expect(front.status).toBe(200);
      const callback = await rawRequest(app.url, {
        method: 'GET',
        target: `/logout/callback?state=${escape}`,
        headers: [['Cookie', `oidc_logout_state=${escape}`]],
      });
      expectQuick(callback);
      // The state is percent-decoded, the cookie taken as sent: a malformed escape ('%', '%G0') is
      // kept as is by the decoding and so equals the cookie (a match, to the landing page); a
      // well-formed escape of invalid UTF-8 decodes to U+FFFD and differs (the mismatch page).
      if (escape === '%' || escape === '%G0') {
        expect(callback.status).toBe(302);
        expect(header(callback, 'location')).toBe('/');
      } else {
        expect(callback.status).toBe(400);
        expect(callback.body.toString()).toContain('<h1>Logout could not be confirmed</h1>');
      }
    }
    // In the registration id, Express's param decoding refuses it before the module (known gap).
    const path = await rawRequest(
      app.url,
      post('/logout/connect/back-channel/%FF', 'text/plain', ''),
    );
    expectQuick(path);
    expectFrameworkError(path, 400, /decode param/);
    await expectAllActive();
  });

  it('memory stays bounded across bursts of hostile requests', async () => {
    const gc = exposeGc();
    const token = await strangerToken();
    const form = 'application/x-www-form-urlencoded';
    // The requests' bytes are built once: the client shares this process, and its own copies of
    // 10 MiB bodies would show in the RSS measured.
    const kinds = [
      requestBytes(post(BACK, form, TEN_MIB_FORM)),
      requestBytes(chunked(post(BACK, 'application/json', TEN_MIB_FORM))),
      requestBytes(post(BACK, form, `${TEN_THOUSAND_PARAMS}&logout_token=x${token}`)),
      requestBytes(post(BACK, 'application/json', `${'['.repeat(40_000)}${']'.repeat(40_000)}`)),
      requestBytes(post(BACK, form, `logout_token=%FF${token}&pad=${'x'.repeat(60_000)}`)),
    ] as const;
    const burst = async () => {
      const requests: Buffer[] = [];
      for (let i = 0; i < 6; i++) requests.push(kinds[0], kinds[1]);
      for (let i = 0; i < 100; i++) requests.push(kinds[2], kinds[3], kinds[4]);
      // Eight at a time.
      const queue = [...requests];
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          for (let next = queue.shift(); next; next = queue.shift()) {
            const response = await rawRequest(app.url, next, 10_000);
            expect(response.status).toBeGreaterThanOrEqual(400);
            expect(response.status).toBeLessThan(500);
          }
        }),
      );
    };
    await burst(); // warm-up: JIT, pools, buffers
    const before = measure(gc);
    for (let round = 0; round < 3; round++) await burst();
    const after = measure(gc);
    console.log(
      `[limits] 3 bursts of ${12 * 10 + 300} hostile requests (${36 * 10} MiB): heapUsed ` +
        `${mb(before.heapUsed)} -> ${mb(after.heapUsed)} MB, rss ${mb(before.rss)} -> ${mb(after.rss)} MB`,
    );
    expect(after.heapUsed - before.heapUsed).toBeLessThan(32 * MIB);
    expect(after.rss - before.rss).toBeLessThan(128 * MIB);
    expect(await probe()).toBeLessThan(QUICK_MS);
    await expectAllActive();
  }, 60_000);

  it('slow clients (a byte every 100 ms) hold only their own connections: other requests keep being served', async () => {
    const token = await strangerToken();
    const slow = [
      ...Array.from({ length: 20 }, () =>
        slowClient(
          app.url,
          Buffer.from(
            `GET /logout/connect/front-channel/main?sid=x HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}`,
          ),
        ),
      ),
      ...Array.from({ length: 20 }, () =>
        slowClient(
          app.url,
          Buffer.from(`logout_token=${token}`),
          Buffer.from(
            `POST ${BACK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${13 + token.length}\r\n\r\n`,
          ),
        ),
      ),
    ];
    const latencies: number[] = [];
    const until = performance.now() + 3_000;
    while (performance.now() < until) latencies.push(await probe());
    // Every slow client is still waiting: nothing in the module cuts it (Node's timeouts will).
    expect(slow.every((client) => client.answer() === undefined)).toBe(true);
    for (const client of slow) client.close();
    latencies.sort((a, b) => a - b);
    console.log(
      `[limits] ${slow.length} slow clients for 3 s: ${latencies.length} probes served, median ` +
        `${latencies[latencies.length >> 1]?.toFixed(1)} ms, max ${latencies.at(-1)?.toFixed(1)} ms`,
    );
    expect(latencies.length).toBeGreaterThan(10);
    expect(latencies.at(-1)).toBeLessThan(QUICK_MS);
    // The bound is Node's, the app's to set: 60 s for headers, 300 s for a whole request by default.
    expect(app.server.headersTimeout).toBe(60_000);
    expect(app.server.requestTimeout).toBe(300_000);
    await expectAllActive();
  });
});

describe('with the server’s own timeouts lowered (headersTimeout 1.5 s, requestTimeout 2.5 s)', () => {
  let app: App;

  beforeAll(async () => {
    app = await startApp({
      bodyParser: true,
      beforeListen: (server) => {
        server.headersTimeout = 1_500;
        server.requestTimeout = 2_500;
        // Read when the server starts listening: how often Node checks the timeouts.
        (server as Server & { connectionsCheckingInterval: number }).connectionsCheckingInterval =
          200;
      },
    });
  });

  afterAll(async () => {
    await app?.close();
  });

  it('cuts a slow client with 408 at the bound, answering others meanwhile', async () => {
    const token = await strangerToken();
    const headers = slowClient(
      app.url,
      Buffer.from(`GET /logout/callback HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(200)}`),
    );
    const body = slowClient(
      app.url,
      Buffer.from(`logout_token=${token}`),
      Buffer.from(
        `POST ${BACK} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: ${13 + token.length}\r\n\r\n`,
      ),
    );
    const front = await rawRequest(app.url, {
      method: 'GET',
      target: `/logout/connect/front-channel/main?iss=${encodeURIComponent(op.issuer)}&sid=x`,
    });
    expect(front.status).toBe(200);
    const [headersCut, bodyCut] = await Promise.all([headers.done, body.done]);
    expect(headersCut.status).toBe(408);
    expect(headersCut.atMs).toBeGreaterThan(1_400);
    expect(headersCut.atMs).toBeLessThan(2_500);
    expect(bodyCut.status).toBe(408);
    expect(bodyCut.atMs).toBeGreaterThan(2_400);
    expect(bodyCut.atMs).toBeLessThan(3_500);
  });
});

describe('with the app’s parsers skipping the module’s paths (bodyParser: false)', () => {
  let app: App;
  let agent: ReturnType<typeof request.agent>;
  /** The valid logout token of agent's session. */
  let token: string;

  beforeAll(async () => {
    app = await startApp({ bodyParser: false });
    ({ agent, token } = await login(app.url));
  });

  afterAll(async () => {
    await app?.close();
  });

  it('the module reads the raw body itself: every refusal in its own shape, 64 KiB bound', async () => {
    const form = 'application/x-www-form-urlencoded';
    for (const frame of [(r: RawRequest) => r, chunked]) {
      const big = await rawRequest(app.url, frame(post(BACK, form, TEN_MIB_FORM)), 5_000);
      expectQuick(big);
      expectLibraryError(big, 413, TOO_LARGE);
    }
    const between = await rawRequest(
      app.url,
      post(BACK, form, `logout_token=${token}&pad=${'x'.repeat(80_000)}`),
    );
    expectLibraryError(between, 413, TOO_LARGE);
    const params = await rawRequest(app.url, post(BACK, form, TEN_THOUSAND_PARAMS));
    expectQuick(params);
    expectLibraryError(params, 400, 'logout_token is missing');
    const json = await rawRequest(app.url, post(BACK, 'application/json', '['.repeat(60_000)));
    expectLibraryError(json, 400);
    const utf8 = await rawRequest(app.url, post(BACK, form, Buffer.from([0x6c, 0x3d, 0xff, 0xfe])));
    expectLibraryError(utf8, 400);
    const repeated = await rawRequest(
      app.url,
      post(BACK, form, `logout_token=${token}&logout_token=${token}`),
    );
    expectLibraryError(repeated, 400, 'logout_token is repeated');
    // The refusals that carried the session's token ended nothing.
    await agent.get('/private').expect(200);
    // And that token, sent alone, logs it out (the raw body path).
    const ok = await rawRequest(app.url, post(BACK, form, `logout_token=${token}`));
    expect(ok.status).toBe(200);
    await agent.get('/private').expect(401);
  });
});

/** A client that writes `slowBytes` one byte every 100 ms, after `prefix` at once. */
function slowClient(
  baseUrl: string,
  slowBytes: Buffer,
  prefix: Buffer = Buffer.alloc(0),
): {
  answer(): { status: number; atMs: number } | undefined;
  done: Promise<{ status: number; atMs: number }>;
  close(): void;
} {
  const url = new URL(baseUrl);
  const socket = connect(Number(url.port), url.hostname);
  const started = performance.now();
  let received = '';
  let answer: { status: number; atMs: number } | undefined;
  let offset = 0;
  const timer = setInterval(() => {
    if (offset >= slowBytes.length || socket.destroyed) return;
    socket.write(slowBytes.subarray(offset, offset + 1));
    offset += 1;
  }, 100);
  const done = new Promise<{ status: number; atMs: number }>((resolve) => {
    const settle = () => {
      clearInterval(timer);
      answer ??= {
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0),
        atMs: performance.now() - started,
      };
      resolve(answer);
    };
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      if (/^HTTP\/1\.1 \d{3}/.test(received)) settle();
    });
    socket.on('close', settle);
    socket.on('error', settle);
  });
  if (prefix.length > 0) socket.write(prefix);
  return {
    answer: () => answer,
    done,
    close: () => {
      clearInterval(timer);
      socket.destroy();
    },
  };
}

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}

function measure(gc: () => void): NodeJS.MemoryUsage {
  gc();
  gc();
  return process.memoryUsage();
}

function mb(bytes: number): string {
  return (bytes / MIB).toFixed(1);
}
