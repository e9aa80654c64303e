import { randomBytes, randomUUID } from 'node:crypto';
import fc from 'fast-check';
import request from 'supertest';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InMemoryOidcSessionRepository, type OidcRevocationEvent } from '../../lib';
import {
  logoutButtonPage,
  logoutRefusedPage,
  methodNotAllowedPage,
  stateMismatchPage,
} from '../../lib/http/logout-pages';
import { DEFAULT_JWKS_COOLDOWN_MS } from '../../lib/tokens/jwks-key-set';
import { createTestDataSource, destroyTestDataSource } from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
import {
  header,
  headers,
  rawRequest,
  type RawRequest,
  type RawResponse,
} from '../fixtures/raw-http';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import {
  b64url,
  BACKCHANNEL_LOGOUT_EVENT,
  logoutTokenClaims,
  logoutTokenVariants,
  signCompact,
  signIdToken,
  signLogoutToken,
} from '../fixtures/tokens';

/**
 * Property-based fuzzing of the module's four endpoints on a real Nest app (Express, express-session)
 * with logged-in sessions: random and mutated logout tokens, bodies, headers, query strings and
 * encodings, written byte for byte on raw sockets.
 *
 * For every request: an answer (never a dropped connection), within TIME_BOUND_MS, never a 5xx, in
 * the documented shape of its endpoint, with no Location but the configured landing page, no
 * injected header and nothing reflected. After all of them: every logged-in session is still
 * active (the fuzzer never holds a session's sid, sub or cookie: they are random and kept from it),
 * and no revocation removed a session.
 *
 * Requests that the framework refuses before the library's handler runs (Express's body parser:
 * malformed JSON, an unsupported charset or content encoding, more than 1000 parameters, a body over
 * 100 kb; Express's param decoding: an invalid percent-encoding in `:registrationId`) get Nest's
 * JSON error shape, not the library's: a known gap, counted and checked as such (4xx, Nest's shape).
 * Requests that Node's HTTP parser refuses get its bare 400.
 *
 * OIDC_LOGOUT_FUZZ_RUNS (default 250) is the number of requests per endpoint and backend;
 * OIDC_LOGOUT_FUZZ_SEED (default fixed) the seed, printed with any failure to replay it.
 */

const RUNS = Number(process.env.OIDC_LOGOUT_FUZZ_RUNS ?? 250);
const SEED = Number(process.env.OIDC_LOGOUT_FUZZ_SEED ?? 0x6f1dc);
const TIME_BOUND_MS = 2_000;
/**
 * The back channel's bound: a token with an unknown `kid` waits for the JWKS refetch, at most one per
 * cooldown (shared by every request meanwhile), instead of being refused at once.
 */
const BACK_CHANNEL_TIME_BOUND_MS = DEFAULT_JWKS_COOLDOWN_MS + TIME_BOUND_MS;
const LANDING = '/landing';
const CALLBACK = 'http://app.example/logout/callback';
const BACK = '/logout/connect/back-channel';
const FRONT = '/logout/connect/front-channel';
/** A header no response may carry: every CRLF-injection attempt below tries to add it. */
const INJECTED = 'x-injected';

const REGISTRATIONS = ['main', 'legacy', 'entra', 'optional'] as const;

const FRONT_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>Logout request processed.</p></body></html>';
const FRONT_METHOD_PAGE =
  '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Logout</title></head>' +
  '<body><p>Method not allowed.</p></body></html>';

type Endpoint = 'back-channel' | 'front-channel' | 'logout' | 'callback';
type Verdict = 'library' | 'framework' | 'node';

/** Strings that try to escape: redirects, header injection, markup, prototype keys, encodings. */
const HOSTILE_STRINGS = [
  'javascript:alert(1)',
  'JaVaScRiPt:alert(document.cookie)',
  'data:text/html,<script>alert(1)</script>',
  '//evil.example',
  '///evil.example',
  'https://evil.example/',
  '/\\evil.example',
  '\\\\evil.example',
  'http:evil.example',
  '\r\nX-Injected: 1',
  '\nX-Injected: 1',
  '%0d%0aX-Injected:%201',
  '%0D%0ALocation:%20https://evil.example',
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '`${alert(1)}`',
  '{{7*7}}',
  '__proto__',
  'constructor',
  'hasOwnProperty',
  'toString',
  '[object Object]',
  "' OR '1'='1",
  '"; DROP TABLE oidc_sessions; --',
  '%',
  '%%',
  '%G1',
  '%FF',
  '%C0%AF',
  '%C0%80',
  '%E0%80%AF',
  '%ED%A0%80',
  '%F4%90%80%80',
  '%00',
  '%u0041',
  '%252F',
  '\u0000',
  '\uFEFF',
  '\uD800',
  'ǅ\u0301\u202E',
  '',
  ' ',
];

/** Broken percent-encodings: lone '%', non-hex, invalid and overlong UTF-8, surrogates, NUL. */
const PERCENT_GARBAGE = HOSTILE_STRINGS.filter((s) => s.startsWith('%'));

/** Everything one fuzz run sends, and what it knows about it. */
interface FuzzRequest {
  endpoint: Endpoint;
  raw: RawRequest;
  /** The request path as written (for the logout page's form action). */
  path: string;
}

describe.each(['memory', 'sqlite'] as const)('hostile input fuzzing (%s repository)', (backend) => {
  let keys: TestKeySet;
  let op: FakeOp;
  let testApp: TestApp;
  let dataSource: DataSource | undefined;
  let port: number;
  const events: OidcRevocationEvent[] = [];
  /** Logged-in browsers; the fuzzer never sees their cookies, sids or subs. */
  const browsers: Array<{ agent: ReturnType<typeof request.agent>; sid: string; sub: string }> = [];
  /** sids and subs the fuzzer may use: none belongs to a session. */
  const fuzzSids = [`fuzz-sid-${randomUUID()}`, `fuzz-sid-${randomUUID()}`];
  const fuzzSubs = [`fuzz-sub-${randomUUID()}`, `fuzz-sub-${randomUUID()}`];
  /** Logout tokens to mutate: valid and invalid ones, for the fuzzer's sids and subs only. */
  let seedTokens: string[] = [];
  /** A seed token by any index (the arbitraries are built before the seeds exist). */
  const seed = (i: number): string => seedTokens[i % seedTokens.length] ?? '';
  const verdicts: Record<Endpoint, Record<Verdict, number>> = {
    'back-channel': { library: 0, framework: 0, node: 0 },
    'front-channel': { library: 0, framework: 0, node: 0 },
    logout: { library: 0, framework: 0, node: 0 },
    callback: { library: 0, framework: 0, node: 0 },
  };
  let accepted = 0;
  const slowest: Record<Endpoint, number> = {
    'back-channel': 0,
    'front-channel': 0,
    logout: 0,
    callback: 0,
  };

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    dataSource = backend === 'sqlite' ? await createTestDataSource('sqlite') : undefined;
    testApp = await startTestApp({
      oidc: {
        clients: [
          {
            registrationId: 'main',
            issuer: op.issuer,
            clientId: 'app-main',
            postLogoutRedirectUri: CALLBACK,
          },
          {
            registrationId: 'legacy',
            issuer: op.issuer,
            clientId: 'app-legacy',
            legacyLogoutTokens: true,
          },
          {
            registrationId: 'entra',
            issuer: op.issuer,
            clientId: 'app-entra',
            frontChannel: { allowMissingIssuer: true },
          },
          {
            registrationId: 'optional',
            issuer: op.issuer,
            clientId: 'app-optional',
            frontChannel: { sessionRequired: false },
          },
        ],
        postLogoutLandingUrl: LANDING,
        ...(dataSource
          ? { dataSource }
          : { sessionRepository: new InMemoryOidcSessionRepository() }),
        onRevocation: (event) => {
          events.push(event);
        },
      },
    });
    port = Number(new URL(testApp.url).port);
    for (const clientId of ['app-main', 'app-legacy', 'app-entra', 'app-optional']) {
      for (let i = 0; i < 3; i++) {
        const sid = `${randomUUID()}${randomBytes(16).toString('hex')}`;
        const sub = `${randomUUID()}${randomBytes(16).toString('hex')}`;
        const idToken = await signIdToken(keys, { iss: op.issuer, aud: clientId, sid, sub });
        const { agent } = await logIn(testApp.url, idToken);
        await agent.get('/private').expect(200);
        browsers.push({ agent, sid, sub });
      }
    }
    seedTokens = await buildSeedTokens(keys, op, fuzzSids, fuzzSubs);
  });

  afterAll(async () => {
    await testApp?.close();
    if (dataSource) await destroyTestDataSource(dataSource);
    await op?.close();
    console.log(
      `[fuzz ${backend}] ${RUNS} runs per endpoint, seed ${SEED}; answered by ${JSON.stringify(verdicts)}; ` +
        `slowest (ms) ${JSON.stringify(slowest)}; back-channel 200s: ${accepted}; revocation events: ${events.length}`,
    );
  });

  /** Sends one fuzz request and checks the answer against its endpoint's documented shape. */
  async function exchange(fuzz: FuzzRequest): Promise<RawResponse> {
    const bound = fuzz.endpoint === 'back-channel' ? BACK_CHANNEL_TIME_BOUND_MS : TIME_BOUND_MS;
    const response = await rawRequest(testApp.url, fuzz.raw, bound + 1_000);
    slowest[fuzz.endpoint] = Math.max(slowest[fuzz.endpoint], Math.round(response.elapsedMs));
    const context = describeRequest(fuzz, response);
    expect(response.timedOut, `no answer in time: ${context}`).toBe(false);
    if (response.status === 0 && refusedFraming(fuzz.raw)) {
      // Node's HTTP parser resets a connection whose Transfer-Encoding it refuses, answered or not.
      verdicts[fuzz.endpoint].node += 1;
      return response;
    }
    expect(response.status, `connection dropped: ${context}`).not.toBe(0);
    expect(response.complete, `response cut short: ${context}`).toBe(true);
    expect(response.elapsedMs, `slow answer: ${context}`).toBeLessThan(bound);
    expect(response.status, `5xx: ${context}`).toBeLessThan(500);
    expect(header(response, INJECTED), `injected header: ${context}`).toBeUndefined();
    const location = header(response, 'location');
    if (location !== undefined) expect(location, `Location: ${context}`).toBe(LANDING);
    const verdict = classify(fuzz.endpoint, response, context);
    verdicts[fuzz.endpoint][verdict] += 1;
    if (verdict !== 'library') return response;
    const check = {
      'back-channel': checkBackChannel,
      'front-channel': checkFrontChannel,
      logout: checkLogout,
      callback: checkCallback,
    }[fuzz.endpoint];
    check(fuzz, response, context);
    return response;
  }

  function checkBackChannel(fuzz: FuzzRequest, response: RawResponse, context: string): void {
    expect(header(response, 'cache-control'), context).toBe('no-store');
    expect(header(response, 'set-cookie'), `session created: ${context}`).toBeUndefined();
    if (response.status === 200) {
      accepted += 1;
      expect(fuzz.raw.method, context).toBe('POST');
      expect(response.body.length, context).toBe(0);
      return;
    }
    expect([400, 413], context).toContain(response.status);
    expect(header(response, 'content-type'), context).toBe('application/json; charset=utf-8');
    if (fuzz.raw.method === 'HEAD') return;
    const body = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
    expect(Object.keys(body).sort(), context).toEqual(['error', 'error_description']);
    expect(body.error, context).toBe('invalid_request');
    expect(typeof body.error_description, context).toBe('string');
    if (fuzz.raw.method !== 'POST') expect(header(response, 'allow'), context).toBe('POST');
  }

  function checkFrontChannel(fuzz: FuzzRequest, response: RawResponse, context: string): void {
    expect(header(response, 'cache-control'), context).toBe('no-store');
    expect(header(response, 'content-type'), context).toBe('text/html; charset=utf-8');
    expect(header(response, 'x-frame-options'), context).toBeUndefined();
    expect(header(response, 'set-cookie'), `session created: ${context}`).toBeUndefined();
    expect(header(response, 'content-security-policy'), context).toMatch(
      new RegExp(
        `^default-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors (${escapeRegExp(new URL(op.issuer).origin)}|'none')$`,
      ),
    );
    const method = fuzz.raw.method;
    if (method === 'GET') {
      expect(response.status, context).toBe(200);
      expect(response.body.toString('utf8'), context).toBe(FRONT_PAGE);
    } else if (method === 'HEAD') {
      expect(response.status, context).toBe(200);
    } else {
      expect(response.status, context).toBe(405);
      expect(header(response, 'allow'), context).toBe('GET, HEAD');
      expect(response.body.toString('utf8'), context).toBe(FRONT_METHOD_PAGE);
    }
  }

  function checkLogout(fuzz: FuzzRequest, response: RawResponse, context: string): void {
    expectPageHeaders(response, context);
    const method = fuzz.raw.method;
    const html = response.body.toString('utf8');
    if (method === 'GET' || method === 'HEAD') {
      expect(response.status, context).toBe(200);
      if (method === 'GET') expectFormPage(html, logoutButtonPage, context);
    } else if (method === 'POST') {
      if (response.status === 302) {
        // A same-origin POST without a recorded login: local logout, the landing page.
        expect(header(response, 'location'), context).toBe(LANDING);
        expect(response.body.length, context).toBe(0);
      } else {
        expect(response.status, context).toBe(403);
        expectFormPage(html, logoutRefusedPage, context);
      }
    } else {
      expect(response.status, context).toBe(405);
      expect(header(response, 'allow'), context).toBe('GET, HEAD, POST');
      expect(html, context).toBe(methodNotAllowedPage());
    }
  }

  function checkCallback(fuzz: FuzzRequest, response: RawResponse, context: string): void {
    expectPageHeaders(response, context);
    const method = fuzz.raw.method;
    if (method === 'GET' || method === 'HEAD') {
      if (response.status === 302) {
        expect(header(response, 'location'), context).toBe(LANDING);
      } else {
        expect(response.status, context).toBe(400);
        if (method === 'GET')
          expect(response.body.toString('utf8'), context).toBe(stateMismatchPage());
      }
    } else {
      expect(response.status, context).toBe(405);
      expect(header(response, 'allow'), context).toBe('GET, HEAD');
      expect(response.body.toString('utf8'), context).toBe(methodNotAllowedPage());
    }
    for (const cookie of headers(response, 'set-cookie')) {
      // Only the deletion of the state cookie; its Path comes from the request path, filtered.
      if (cookie.startsWith('connect.sid=')) continue;
      expect(cookie, context).toMatch(
        /^oidc_logout_state=; Path=\/[\x21-\x3a\x3c-\x7e]*; Max-Age=0; HttpOnly; SameSite=Lax; Expires=Thu, 01 Jan 1970 00:00:00 GMT(; Secure)?$/,
      );
    }
  }

  /** Which layer answered: the library, the framework before it (Nest's JSON), or Node's parser. */
  function classify(endpoint: Endpoint, response: RawResponse, context: string): Verdict {
    if (header(response, 'x-powered-by') === undefined) {
      // Node's HTTP parser refused the request before Express saw it: a bare 4xx.
      expect([400, 413, 414, 431], `node: ${context}`).toContain(response.status);
      expect(response.body.length, `node: ${context}`).toBe(0);
      return 'node';
    }
    if (header(response, 'cache-control') === 'no-store') return 'library';
    // The framework, before the handler (body parser, param decoding): Nest's JSON error.
    expect([400, 413, 415], `framework (${endpoint}): ${context}`).toContain(response.status);
    expect(header(response, 'content-type'), context).toMatch(/^application\/json/);
    if (response.body.length > 0) {
      const body = JSON.parse(response.body.toString('utf8')) as Record<string, unknown>;
      expect(body.statusCode, context).toBe(response.status);
      expect(typeof body.message, context).toBe('string');
    }
    return 'framework';
  }

  /** The module's HTML pages (and redirects): uncacheable, not frameable, no script. */
  function expectPageHeaders(response: RawResponse, context: string): void {
    expect(header(response, 'cache-control'), context).toBe('no-store');
    if (response.status === 302) {
      expect(response.body.length, context).toBe(0);
      return;
    }
    expect(header(response, 'x-frame-options'), context).toBe('DENY');
    expect(header(response, 'content-security-policy'), context).toBe(
      "default-src 'none'; base-uri 'none'; frame-ancestors 'none'",
    );
    expect(header(response, 'content-type'), context).toBe('text/html; charset=utf-8');
  }

  /**
   * A page with the logout form: identical to the library's page once the form action is set aside,
   * and that action is a local path, escaped (the only request-derived value on any page).
   */
  function expectFormPage(html: string, page: (action: string) => string, context: string): void {
    const match = /<form method="post" action="([^"]*)">/.exec(html);
    expect(match, context).not.toBeNull();
    const action = match?.[1] ?? '';
    expect(action, context).not.toMatch(/[<>"'`]/);
    const decoded = decodeEntities(action);
    expect(decoded.startsWith('/') && !decoded.startsWith('//'), context).toBe(true);
    expect(decoded, context).not.toContain('\\');
    expect(html, context).toBe(page(decoded));
    expect(html, context).not.toContain('<script');
  }

  function describeRequest(fuzz: FuzzRequest, response: RawResponse): string {
    const target = Buffer.isBuffer(fuzz.raw.target)
      ? fuzz.raw.target.toString('latin1')
      : fuzz.raw.target;
    return `${fuzz.raw.method} ${JSON.stringify(target.slice(0, 200))} headers=${JSON.stringify(
      (fuzz.raw.headers ?? []).map(([n, v]) => [n, String(v).slice(0, 80)]),
    )} body=${JSON.stringify(String(fuzz.raw.body ?? '').slice(0, 120))} -> ${response.status} ${response.body
      .toString('utf8')
      .slice(0, 200)}`;
  }

  // ---- Arbitraries ---------------------------------------------------------------------------

  const hostileString = fc.constantFrom(...HOSTILE_STRINGS);
  const text = fc.oneof(
    { arbitrary: fc.string({ maxLength: 30 }), weight: 3 },
    { arbitrary: fc.string({ unit: 'grapheme', maxLength: 12 }), weight: 2 },
    { arbitrary: fc.string({ unit: 'binary', maxLength: 12 }), weight: 2 },
    { arbitrary: hostileString, weight: 4 },
    { arbitrary: fc.constantFrom(...fuzzSids, ...fuzzSubs), weight: 1 },
    { arbitrary: fc.integer({ min: 1_000, max: 9_000 }).map((n) => 'x'.repeat(n)), weight: 1 },
  );

  /** A value as it goes into a URL or a form: encoded, raw UTF-8, or wrapped in bad escapes. */
  const encodedValue = (value: fc.Arbitrary<string>) =>
    fc
      .tuple(value, fc.constantFrom('component', 'raw', 'garbage-before', 'garbage-after', 'plus'))
      .chain(([v, mode]) =>
        fc.constantFrom(...PERCENT_GARBAGE).map((garbage) => {
          switch (mode) {
            case 'component':
              return safeEncode(v);
            case 'raw':
              return Buffer.from(v, 'utf8').toString('latin1');
            case 'garbage-before':
              return garbage + safeEncode(v);
            case 'garbage-after':
              return safeEncode(v) + garbage;
            default:
              return safeEncode(v).replace(/%20/g, '+').replace(/-/g, '%2D');
          }
        }),
      );

  /** Logout tokens: the seeds, mutated in every segment, recombined, or plain garbage. */
  const token = fc.oneof(
    { arbitrary: fc.nat().map((i) => seed(i)), weight: 2 },
    {
      // A bit flipped in the decoded bytes of one segment.
      arbitrary: fc
        .tuple(fc.nat(), fc.nat(4), fc.nat(), fc.nat(7))
        .map(([i, segment, at, bit]) => flipBit(seed(i), segment, at, bit)),
      weight: 4,
    },
    {
      // A character of the compact form replaced (also '.', '=', '+', '/', non-ASCII).
      arbitrary: fc
        .tuple(fc.nat(), fc.nat(), fc.string({ minLength: 1, maxLength: 3 }))
        .map(([i, at, replacement]) => {
          const t = seed(i);
          const p = t.length === 0 ? 0 : at % t.length;
          return t.slice(0, p) + replacement + t.slice(p + 1);
        }),
      weight: 3,
    },
    {
      // Segments swapped, dropped, duplicated or taken from another token.
      arbitrary: fc
        .tuple(fc.nat(), fc.nat(), fc.array(fc.nat(5), { minLength: 1, maxLength: 6 }))
        .map(([a, b, picks]) => {
          const segments = [...seed(a).split('.'), ...seed(b).split('.')];
          return picks.map((p) => segments[p % segments.length]).join('.');
        }),
      weight: 3,
    },
    {
      // base64url garbage in JWS / JWE shape.
      arbitrary: fc
        .array(fc.base64String({ maxLength: 200 }), { minLength: 1, maxLength: 6 })
        .map((parts) => parts.map((p) => p.replace(/\+/g, '-').replace(/\//g, '_')).join('.')),
      weight: 2,
    },
    { arbitrary: text, weight: 1 },
  );

  const formBody = fc
    .array(
      fc.tuple(
        fc.oneof(
          { arbitrary: fc.constant('logout_token'), weight: 6 },
          {
            arbitrary: fc.constantFrom(
              'logout_token[]',
              'logout_token[a]',
              'logout_token[__proto__]',
              'LOGOUT_TOKEN',
              'logout_token%00',
              'logout%5Ftoken',
              '__proto__',
              'constructor[prototype][x]',
              'state',
              'a[b][c][d][e][f][g]',
            ),
            weight: 2,
          },
          { arbitrary: fc.string({ maxLength: 10 }), weight: 1 },
        ),
        fc.oneof(
          { arbitrary: encodedValue(token), weight: 4 },
          { arbitrary: encodedValue(text), weight: 1 },
        ),
        fc.boolean(),
      ),
      { maxLength: 5 },
    )
    .map((pairs) =>
      Buffer.from(
        pairs.map(([k, v, withEquals]) => (withEquals ? `${k}=${v}` : `${k}${v}`)).join('&'),
        'latin1',
      ),
    );

  const body = fc.oneof(
    { arbitrary: formBody, weight: 6 },
    {
      arbitrary: fc
        .tuple(token, fc.jsonValue({ maxDepth: 3 }))
        .map(([t, extra]) => Buffer.from(JSON.stringify({ logout_token: t, extra }), 'utf8')),
      weight: 1,
    },
    {
      arbitrary: fc
        .integer({ min: 100, max: 5_000 })
        .map((depth) => Buffer.from(`${'{"a":['.repeat(depth)}${']}'.repeat(depth)}`)),
      weight: 1,
    },
    {
      arbitrary: token.map((t) =>
        Buffer.from(
          `--fuzzboundary\r\nContent-Disposition: form-data; name="logout_token"\r\n\r\n${t}\r\n--fuzzboundary--\r\n`,
          'latin1',
        ),
      ),
      weight: 1,
    },
    { arbitrary: fc.uint8Array({ maxLength: 2_000 }).map((b) => Buffer.from(b)), weight: 1 },
    {
      // Near and over the library's 64 KiB bound, under Express's 100 kb.
      arbitrary: fc
        .tuple(fc.integer({ min: 60_000, max: 90_000 }), fc.nat())
        .map(([n, i]) =>
          Buffer.from(`logout_token=${encodeURIComponent(seed(i))}&pad=${'x'.repeat(n)}`),
        ),
      weight: 1,
    },
    {
      arbitrary: fc
        .integer({ min: 900, max: 1_200 })
        .map((n) => Buffer.from(Array.from({ length: n }, (_, k) => `p${k}=1`).join('&'))),
      weight: 1,
    },
    { arbitrary: fc.constant(Buffer.alloc(0)), weight: 1 },
  );

  const contentType = fc.constantFrom(
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded',
    'application/x-www-form-urlencoded; charset=utf-8',
    'Application/X-WWW-Form-Urlencoded;charset=UTF-8',
    'application/x-www-form-urlencoded; charset=iso-8859-1',
    'application/x-www-form-urlencoded; charset=utf-16',
    'application/x-www-form-urlencoded; charset="<script>"',
    'application/x-www-form-urlencoded\r\nX-Injected: 1',
    'application/x-www-form-urlencodedx',
    'application/json',
    'application/json; charset=utf-8',
    'multipart/form-data; boundary=fuzzboundary',
    'text/plain',
    'application/octet-stream',
    'application/jwt',
    '*/*',
    '',
    ';;;',
    'x'.repeat(300),
  );

  const appOrigin = () => `http://127.0.0.1:${port}`;
  const extraHeader: fc.Arbitrary<[string, string]> = fc.oneof(
    fc.constantFrom<[string, string]>(
      ['Sec-Fetch-Site', 'same-origin'],
      ['Sec-Fetch-Site', 'none'],
      ['Sec-Fetch-Site', 'cross-site'],
      ['Sec-Fetch-Site', 'same-site'],
      ['Sec-Fetch-Site', 'SAME-ORIGIN '],
      ['Origin', 'null'],
      ['Origin', 'http://evil.example'],
      ['Origin', 'http://127.0.0.1.evil.example'],
      ['Origin', 'javascript:alert(1)'],
      ['Host', 'evil.example'],
      ['Host', ''],
      ['Host', '127.0.0.1:1\r\nX-Injected: 1'],
      ['X-Forwarded-Host', 'evil.example'],
      ['X-Forwarded-Proto', 'https'],
      ['Forwarded', 'host=evil.example;proto=https'],
      ['Referer', 'https://evil.example/'],
      ['Accept', 'text/html'],
      ['Accept', 'application/json'],
      ['Cookie', 'connect.sid=s%3Afake.signature'],
      ['Cookie', 'connect.sid=s%3A'],
      ['Cookie', 'oidc_logout_state="%3Cscript%3E"; oidc_logout_state=x'],
      ['Cookie', `a=${'b'.repeat(4_000)}`],
      ['Content-Encoding', 'gzip'],
      ['Content-Encoding', 'deflate'],
      ['Content-Encoding', 'br'],
      ['Content-Encoding', 'identity'],
      ['Content-Encoding', 'x-unknown'],
      ['Expect', '100-continue'],
      ['Transfer-Encoding', 'gzip'],
      ['Content-Length', 'abc'],
      ['Content-Length', '-1'],
      ['Content-Length', '99999999999999999999'],
      ['X-HTTP-Method-Override', 'DELETE'],
      ['Upgrade', 'websocket'],
    ),
    fc.constant<[string, string]>(['Origin', '__APP_ORIGIN__']),
    fc.constant<[string, string]>(['Host', '__APP_HOST__']),
    fc
      .tuple(fc.constantFrom('Origin', 'Referer', 'Cookie', 'X-Custom', 'Sec-Fetch-Site'), text)
      .map(([name, value]): [string, string] => [
        name,
        Buffer.from(value, 'utf8').toString('latin1'),
      ]),
    fc.tuple(fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,20}$/), fc.string({ maxLength: 40 })),
  );

  const headerList = fc
    .tuple(
      fc.option(contentType, { nil: undefined }),
      fc.boolean(),
      fc.array(extraHeader, { maxLength: 5 }),
    )
    .map(([type, duplicateType, extra]) => {
      const list: Array<[string, string]> = [];
      if (type !== undefined) list.push(['Content-Type', type]);
      if (type !== undefined && duplicateType) list.push(['Content-Type', 'application/json']);
      for (const [name, value] of extra) {
        list.push([
          name,
          value === '__APP_ORIGIN__'
            ? appOrigin()
            : value === '__APP_HOST__'
              ? `127.0.0.1:${port}`
              : value,
        ]);
      }
      return list;
    });

  /** How the body is framed: with its Content-Length, cut in half, or chunked. */
  const framing = fc.constantFrom('length', 'length', 'length', 'truncated', 'chunked');

  const query = (names: fc.Arbitrary<string>, value: fc.Arbitrary<string>) =>
    fc
      .array(fc.tuple(names, value, fc.constantFrom('=', '', '==')), { maxLength: 5 })
      .chain((pairs) =>
        fc
          .constantFrom('&', '&', ';', '&&')
          .map((separator) =>
            pairs.length === 0
              ? ''
              : `?${pairs.map(([k, e, v]) => `${k}${e}${v}`).join(separator)}`,
          ),
      );

  const registrationSegment = fc.oneof(
    { arbitrary: fc.constantFrom(...REGISTRATIONS), weight: 5 },
    {
      arbitrary: fc.constantFrom(
        'MAIN',
        'main.',
        'main%2F..',
        '..',
        '%2e%2e',
        '%FF',
        '%E0%A4',
        '%C0%AF',
        '__proto__',
        'constructor',
        'toString',
        'main%00',
        'main%0d%0aX-Injected:%201',
        '%3Cscript%3E',
        'x'.repeat(300),
      ),
      weight: 2,
    },
    { arbitrary: fc.stringMatching(/^[A-Za-z0-9._~-]{1,70}$/), weight: 1 },
    { arbitrary: encodedValue(text).filter((s) => s.length > 0 && !/[/?#\s]/.test(s)), weight: 1 },
  );

  const method = (common: readonly string[]) =>
    fc.oneof(
      { arbitrary: fc.constantFrom(...common), weight: 8 },
      {
        arbitrary: fc.constantFrom('GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
        weight: 2,
      },
      { arbitrary: fc.constantFrom('TRACE', 'PROPFIND', 'get', 'FOO'), weight: 1 },
    );

  /** Builds the raw request: the framing of the body, and the headers. */
  function buildRaw(
    verb: string,
    target: string,
    list: Array<[string, string]>,
    payload: Buffer | undefined,
    frame: string,
  ): RawRequest {
    if (payload === undefined) return { method: verb, target, headers: list };
    if (
      frame === 'chunked' &&
      !list.some(([n]) => /^(content-length|transfer-encoding)$/i.test(n))
    ) {
      const chunks: Buffer[] = [];
      for (let offset = 0; offset < payload.length; offset += 4_096) {
        const part = payload.subarray(offset, offset + 4_096);
        chunks.push(Buffer.from(`${part.length.toString(16)}\r\n`), part, Buffer.from('\r\n'));
      }
      chunks.push(Buffer.from('0\r\n\r\n'));
      return {
        method: verb,
        target,
        headers: [...list, ['Transfer-Encoding', 'chunked']],
        body: Buffer.concat(chunks),
      };
    }
    if (frame === 'truncated') {
      // The body cut in the middle (of a token, a percent escape, a UTF-8 sequence, a JSON value).
      return {
        method: verb,
        target,
        headers: list,
        body: payload.subarray(0, payload.length >> 1),
      };
    }
    return { method: verb, target, headers: list, body: payload };
  }

  const anyBackChannelRequest: fc.Arbitrary<FuzzRequest> = fc
    .tuple(
      method(['POST']),
      registrationSegment,
      query(fc.constantFrom('logout_token', 'x', 'sid'), encodedValue(token)),
      headerList,
      fc.option(body, { nil: undefined, freq: 8 }),
      framing,
    )
    .map(([verb, registration, search, list, payload, frame]) => {
      const path = `${BACK}/${registration}`;
      return {
        endpoint: 'back-channel',
        path,
        raw: buildRaw(verb, `${path}${search}`, list, payload, frame),
      };
    });

  /** What an OP sends, with a seed or a mutated token: reaches the token verification. */
  const wellFormedBackChannelRequest: fc.Arbitrary<FuzzRequest> = fc
    .tuple(
      fc.constantFrom('main', 'legacy'),
      fc.oneof(
        { arbitrary: fc.nat().map((i) => seed(i)), weight: 2 },
        { arbitrary: token, weight: 3 },
      ),
      fc.array(extraHeader, { maxLength: 2 }),
    )
    .map(([registration, value, extra]) => {
      const path = `${BACK}/${registration}`;
      return {
        endpoint: 'back-channel',
        path,
        raw: buildRaw(
          'POST',
          path,
          [['Content-Type', 'application/x-www-form-urlencoded'], ...extra],
          Buffer.from(`logout_token=${safeEncode(value)}`, 'latin1'),
          'length',
        ),
      };
    });

  const backChannelRequest = fc.oneof(anyBackChannelRequest, wellFormedBackChannelRequest);

  const issValue = fc.oneof(
    fc.constant('__ISSUER__'),
    fc.constant('__ISSUER__/'),
    fc.constant('__ISSUER_UPPER__'),
    text,
  );
  const frontChannelRequest: fc.Arbitrary<FuzzRequest> = fc
    .tuple(
      method(['GET']),
      registrationSegment,
      query(
        fc.constantFrom('iss', 'sid', 'iss', 'sid', 'ISS', 'sid[]', 'iss[a]', 'state', 'x'),
        encodedValue(fc.oneof(issValue, text)),
      ),
      headerList,
      fc.option(body, { nil: undefined, freq: 1 }),
      framing,
    )
    .map(([verb, registration, search, list, payload, frame]) => {
      const path = `${FRONT}/${registration}`;
      const target = `${path}${search}`
        .replaceAll('__ISSUER_UPPER__', safeEncode(op.issuer.toUpperCase()))
        .replaceAll('__ISSUER__', safeEncode(op.issuer));
      return { endpoint: 'front-channel', path, raw: buildRaw(verb, target, list, payload, frame) };
    });

  const logoutPath = fc.constantFrom('/logout', '/logout/', '/LOGOUT', '/Logout/');
  const logoutRequest: fc.Arbitrary<FuzzRequest> = fc
    .tuple(
      method(['GET', 'POST']),
      logoutPath,
      query(
        fc.constantFrom('post_logout_redirect_uri', 'redirect', 'next', 'state', 'returnTo', 'x'),
        encodedValue(text),
      ),
      headerList,
      fc.option(body, { nil: undefined, freq: 2 }),
      framing,
    )
    .map(([verb, path, search, list, payload, frame]) => ({
      endpoint: 'logout',
      path,
      raw: buildRaw(verb, `${path}${search}`, list, payload, frame),
    }));

  const callbackPath = fc.constantFrom('/logout/callback', '/logout/callback/', '/LOGOUT/Callback');
  const callbackRequest: fc.Arbitrary<FuzzRequest> = fc
    .tuple(
      method(['GET']),
      callbackPath,
      query(
        fc.constantFrom(
          'state',
          'state',
          'STATE',
          'state[]',
          'iss',
          'sid',
          'post_logout_redirect_uri',
          'x',
        ),
        encodedValue(text),
      ),
      headerList,
      fc.option(fc.oneof(text, hostileString), { nil: undefined }),
      fc.option(body, { nil: undefined, freq: 1 }),
      framing,
    )
    .map(([verb, path, search, list, cookieState, payload, frame]) => {
      // A state cookie equal to the state parameter: the callback's one successful path.
      const stateParam = /[?&;]state=([^&;]*)/.exec(search)?.[1];
      const cookies: Array<[string, string]> =
        cookieState === undefined
          ? []
          : [
              [
                'Cookie',
                `oidc_logout_state=${stateParam !== undefined && cookieState.length % 2 === 0 ? stateParam : safeEncode(cookieState)}`,
              ],
            ];
      return {
        endpoint: 'callback',
        path,
        raw: buildRaw(verb, `${path}${search}`, [...list, ...cookies], payload, frame),
      };
    });

  const properties: Array<[Endpoint, () => fc.Arbitrary<FuzzRequest>]> = [
    ['back-channel', () => backChannelRequest],
    ['front-channel', () => frontChannelRequest],
    ['logout', () => logoutRequest],
    ['callback', () => callbackRequest],
  ];

  it.each(properties)(
    '%s: answered in time, never 5xx, in the documented shape, nothing injected',
    async (_endpoint, arbitrary) => {
      await fc.assert(
        fc.asyncProperty(arbitrary(), async (fuzz) => {
          await exchange(fuzz);
        }),
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    },
    60_000,
  );

  it('every seed token, delivered as an OP would to both registrations, in parallel: 200 or 400 in shape', async () => {
    const outcomes = await Promise.all(
      seedTokens.flatMap((value, index) =>
        ['main', 'legacy'].map(async (registration) => {
          const raw = buildRaw(
            'POST',
            `${BACK}/${registration}`,
            [['Content-Type', 'application/x-www-form-urlencoded']],
            Buffer.from(`logout_token=${encodeURIComponent(value)}`),
            'length',
          );
          const response = await exchange({ endpoint: 'back-channel', path: BACK, raw });
          const reason = /\(([a-z_]+)\)/.exec(response.body.toString('utf8'))?.[1] ?? '';
          return `${index}/${registration}:${response.status}${reason ? `:${reason}` : ''}`;
        }),
      ),
    );
    if (process.env.OIDC_LOGOUT_FUZZ_DEBUG) console.log(outcomes.join(' '));
  });

  it('afterwards: every logged-in session is still active, nothing was revoked', async () => {
    for (const { agent } of browsers) {
      await agent.get('/private').set('Accept', 'application/json').expect(200);
    }
    const real = new Set(browsers.flatMap(({ sid, sub }) => [sid, sub]));
    for (const event of events) {
      expect(event.sessions).toEqual([]);
      expect(event.sid === undefined || !real.has(event.sid)).toBe(true);
      expect(event.sub === undefined || !real.has(event.sub)).toBe(true);
    }
    // The fuzzer did reach the handlers, and valid tokens (for its own sids) did get through.
    expect(verdicts['back-channel'].library).toBeGreaterThan(RUNS / 3);
    expect(verdicts['front-channel'].library).toBeGreaterThan(RUNS / 3);
    expect(verdicts.logout.library).toBeGreaterThan(RUNS / 3);
    expect(verdicts.callback.library).toBeGreaterThan(RUNS / 3);
  });
});

/** The seed tokens: every fixture variant, plus re-signed tokens with hostile claims and headers. */
async function buildSeedTokens(
  keys: TestKeySet,
  op: FakeOp,
  sids: readonly string[],
  subs: readonly string[],
): Promise<string[]> {
  const tokens: string[] = [];
  for (const clientId of ['app-main', 'app-legacy']) {
    const context = op.context({
      clientId,
      sid: sids[0] ?? '',
      sub: subs[0] ?? '',
      clientSecret: 'a-client-secret-that-is-long-enough-for-hs256',
    });
    for (const variant of logoutTokenVariants) tokens.push(await variant.build(context));
  }
  const base = { issuer: op.issuer, clientId: 'app-main', sid: sids[1], sub: subs[1] };
  const deep = (depth: number) =>
    JSON.parse(`${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`) as unknown;
  const claimSets: Array<Record<string, unknown>> = [
    { huge: 'x'.repeat(40_000) },
    { nested: deep(500) },
    { sid: 'ǅ\u0301\u202E\uD83D\uDE00', sub: '\u0000\uFEFF' },
    { sid: { $ne: null } },
    { sid: ['a', 'b'] },
    { sid: 42 },
    { sid: null, sub: subs[1] },
    { sid: '', sub: '' },
    { sid: 'x'.repeat(10_000) },
    { sub: { toString: 'x' }, sid: undefined },
    { sub: true, sid: undefined },
    { sid: '%', sub: '*' },
    { sid: "' OR 1=1 --" },
    JSON.parse(
      '{"__proto__": {"sid": "polluted"}, "constructor": {"prototype": {"sid": "x"}}}',
    ) as Record<string, unknown>,
    { iss: [op.issuer] },
    { aud: { 'app-main': true } },
    { iat: 1e308 },
    { iat: -1 },
    { exp: 'never' },
    { jti: { x: 1 } },
    { jti: '' },
    { events: { [BACKCHANNEL_LOGOUT_EVENT]: deep(200) } },
    { events: JSON.parse(`{"__proto__": {"${BACKCHANNEL_LOGOUT_EVENT}": {}}}`) as unknown },
  ];
  for (const claims of claimSets) {
    tokens.push(await signLogoutToken(keys, { ...base, claims }));
  }
  const payload = JSON.stringify(logoutTokenClaims({ ...base }));
  const headerSets: Array<string | Record<string, unknown>> = [
    { alg: 'RS256', kid: '../../../etc/passwd' },
    { alg: 'RS256', kid: 'x'.repeat(5_000) },
    { alg: 'RS256', kid: { $gt: '' } },
    { alg: 'RS256', kid: 'rsa-1', crit: ['exp'], exp: 1 },
    { alg: 'RS256', kid: 'rsa-1', jku: 'https://evil.example/jwks' },
    { alg: 'RS256', kid: 'rsa-1', x5u: 'https://evil.example/cert' },
    { alg: 'RS256', kid: 'rsa-1', jwk: keys.rsaUnpublished.publicJwk },
    { alg: 'RS256', kid: 'rsa-1', zip: 'DEF' },
    { alg: ['RS256'], kid: 'rsa-1' },
    '{"alg":"RS256","kid":"rsa-1","alg":"none"}',
    '{"alg":"RS256","kid":"rsa-1"',
  ];
  for (const header of headerSets) {
    tokens.push(await signCompact(header, payload, 'RS256', keys.rsa.privateKey));
  }
  // Duplicate claims and a payload that is not an object, with valid signatures.
  tokens.push(
    await signCompact(
      { alg: 'RS256', kid: 'rsa-1' },
      payload.replace('{', `{"sid":${JSON.stringify(sids[1])},"sid":{"x":1},`),
      'RS256',
      keys.rsa.privateKey,
    ),
  );
  tokens.push(
    await signCompact({ alg: 'RS256', kid: 'rsa-1' }, '"a string"', 'RS256', keys.rsa.privateKey),
  );
  tokens.push(
    await signCompact(
      { alg: 'RS256', kid: 'rsa-1' },
      Buffer.from([0xff, 0xfe, 0x00]),
      'RS256',
      keys.rsa.privateKey,
    ),
  );
  tokens.push(`${b64url({ alg: 'none' })}.${b64url(payload)}.`);
  return tokens;
}

/** A request whose body framing Node's parser refuses (a Transfer-Encoding other than chunked). */
function refusedFraming(raw: RawRequest): boolean {
  return (raw.headers ?? []).some(
    ([name, value]) => name.toLowerCase() === 'transfer-encoding' && String(value) !== 'chunked',
  );
}

/** Flips one bit of the base64url-decoded bytes of one segment, and re-encodes it. */
function flipBit(tokenValue: string, segment: number, at: number, bit: number): string {
  const segments = tokenValue.split('.');
  const index = segment % Math.max(segments.length, 1);
  const bytes = Buffer.from(segments[index] ?? '', 'base64url');
  if (bytes.length === 0) return tokenValue;
  const position = at % bytes.length;
  bytes[position] = (bytes[position] ?? 0) ^ (1 << bit);
  segments[index] = bytes.toString('base64url');
  return segments.join('.');
}

/** encodeURIComponent, or the raw UTF-8 bytes of a string it refuses (a lone surrogate). */
function safeEncode(value: string): string {
  try {
    return encodeURIComponent(value);
  } catch {
    return Buffer.from(value, 'utf8').toString('latin1');
  }
}

function decodeEntities(value: string): string {
  return value
    .replace(/&#(\d+);/g, (_m, code: string) => String.fromCodePoint(Number(code)))
    .replace(/&amp;/g, '&');
}

function escapeRegExp(value: string): string {
  return value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
