import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  Body,
  Controller,
  Get,
  HttpCode,
  Injectable,
  Module,
  Post,
  Req,
  UseGuards,
  type INestApplication,
  type LoggerService,
} from '@nestjs/common';
import { PassportSerializer } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import session from 'express-session';
import passport from 'passport';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createOidcLoginStrategyProvider, OidcLoginGuard } from '../../lib/passport';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import { LogoutService, OidcLogoutModule, OidcSessionGuard } from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { CookieJar } from '../fixtures/real-op';
import { RecordingRepository } from '../fixtures/recording-repository';
import { b64url, nowSeconds, signIdToken } from '../fixtures/tokens';
import { registeredSessionId } from '../fixtures/session-ids';

/**
 * The login's code exchange against a token endpoint that answers what no honest OP would (a
 * tenant's OP gone rogue, or anyone on an http token endpoint), and the HTTP status of every library
 * error at an application's own login route. The OP's discovery and keys are a fake OP's; its
 * `token_endpoint` is a real HTTP server of this file whose answers each test chooses.
 */

const CLIENT_ID = 'hostile-client';
const SESSION_COOKIE = 'connect.sid';

class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string }> = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message: String(message) });
  }
  error(message: unknown, ...rest: unknown[]): void {
    this.lines.push({ level: 'error', message: [message, ...rest].map(String).join(' ') });
  }
  warn(message: unknown): void {
    this.lines.push({ level: 'warn', message: String(message) });
  }
  debug(): void {}
  verbose(): void {}
}

@Injectable()
class UserSerializer extends PassportSerializer {
  serializeUser(user: unknown, done: (error: unknown, payload?: unknown) => void): void {
    done(null, user);
  }
  deserializeUser(payload: unknown, done: (error: unknown, user?: unknown) => void): void {
    done(null, payload);
  }
}

@Controller()
class HostileLoginController {
  constructor(private readonly logoutService: LogoutService) {}

  @Get('login')
  @UseGuards(OidcLoginGuard('oidc:hostile'))
  login(): void {}

  @Get('login/callback')
  @UseGuards(OidcLoginGuard('oidc:hostile'))
  callback(@Req() request: Request): { user: unknown } {
    return { user: request.user };
  }

  @Get('private')
  @UseGuards(OidcSessionGuard)
  private(): { ok: true } {
    return { ok: true };
  }

  /** An application's own login route: no exception filter, Nest's defaults. */
  @Post('own/login')
  @HttpCode(200)
  async ownLogin(
    @Req() request: Request,
    @Body() body: { idToken: string; registrationId?: string; withoutSession?: boolean },
  ): Promise<{ sub: string }> {
    if (body.withoutSession) {
      // As on a route the session middleware does not cover.
      delete (request as { sessionID?: string }).sessionID;
      delete (request as { session?: unknown }).session;
    }
    const info = await this.logoutService.recordLogin(request, body.idToken, {
      registrationId: body.registrationId,
    });
    return { sub: info.sub };
  }
}

type TokenAnswer = (req: IncomingMessage, res: ServerResponse) => void;

interface TokenEndpoint {
  url: string;
  answer: TokenAnswer;
  requests: number;
  /** Bytes of body written before the client went away, per request. */
  bytesWritten: number[];
  close(): Promise<void>;
}

async function startTokenEndpoint(): Promise<TokenEndpoint> {
  const endpoint: TokenEndpoint = {
    url: '',
    answer: (_req, res) => json(res, 500, { error: 'server_error' }),
    requests: 0,
    bytesWritten: [],
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
  const server: Server = createServer((req, res) => {
    endpoint.requests++;
    req.resume();
    req.on('end', () => endpoint.answer(req, res));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  endpoint.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/token`;
  return endpoint;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** A token response with this `id_token` member (any JSON value). */
function tokenResponse(idToken: unknown): TokenAnswer {
  return (_req, res) =>
    json(res, 200, { access_token: 'at', token_type: 'Bearer', expires_in: 60, id_token: idToken });
}

describe('Login: a hostile token endpoint, and library errors at the HTTP edge', () => {
  let op: FakeOp;
  let downOp: FakeOp;
  let tokens: TokenEndpoint;
  let app: INestApplication;
  let baseUrl: string;
  let logger: RecordingLogger;
  let repository: RecordingRepository;
  let logoutService: LogoutService;
  const uncaught: unknown[] = [];
  const onUncaught = (error: unknown): void => {
    uncaught.push(error);
  };

  beforeAll(async () => {
    process.on('uncaughtException', onUncaught);
    tokens = await startTokenEndpoint();
    op = await startFakeOp({ extraMetadata: {} });
    op.controls.extraMetadata.token_endpoint = tokens.url;
    downOp = await startFakeOp();
    await downOp.stop();
    repository = new RecordingRepository();

    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    const port = (server.address() as AddressInfo).port;
    await new Promise<void>((resolve) => server.close(() => resolve()));
    baseUrl = `http://127.0.0.1:${port}`;

    @Module({
      imports: [
        OidcLogoutModule.forRoot({
          isGlobal: true,
          sessionRepository: repository,
          clients: [
            {
              registrationId: 'hostile',
              issuer: op.issuer,
              clientId: CLIENT_ID,
              clientSecret: 'hostile-secret',
            },
            { registrationId: 'down', issuer: downOp.issuer, clientId: 'down-client' },
          ],
        }),
      ],
      controllers: [HostileLoginController],
      providers: [
        UserSerializer,
        createOidcLoginStrategyProvider({
          registrationId: 'hostile',
          callbackURL: `${baseUrl}/login/callback`,
        }),
      ],
    })
    class HostileAppModule {}

    logger = new RecordingLogger();
    const moduleRef = await Test.createTestingModule({ imports: [HostileAppModule] }).compile();
    moduleRef.useLogger(logger);
    app = moduleRef.createNestApplication({ logger });
    app.use(
      session({
        name: SESSION_COOKIE,
        secret: 'hostile-test-secret',
        genid: registeredSessionId, // its ids must never be logged
        resave: false,
        saveUninitialized: false,
      }),
    );
    app.use(passport.session());
    await app.listen(port, '127.0.0.1');
    logoutService = app.get(LogoutService);
  });

  afterAll(async () => {
    process.off('uncaughtException', onUncaught);
    await app?.close();
    await tokens?.close();
    await op?.close();
    await downOp?.close();
  });

  beforeEach(() => {
    uncaught.length = 0;
    repository.failing.clear();
  });

  afterEach(() => {
    expect(uncaught).toEqual([]);
  });

  async function send(jar: CookieJar, path: string, init: RequestInit = {}): Promise<Response> {
    const url = new URL(path, baseUrl);
    const headers = new Headers(init.headers);
    const cookie = jar.header(url);
    if (cookie) headers.set('cookie', cookie);
    const response = await fetch(url, {
      ...init,
      headers,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
    });
    jar.store(url, response.headers.getSetCookie());
    return response;
  }

  /** GET /login: the state and nonce of the authorization request (the OP is never visited). */
  async function startLogin(jar: CookieJar): Promise<{ state: string; nonce: string }> {
    const response = await send(jar, '/login');
    expect(response.status).toBe(302);
    const location = new URL(response.headers.get('location') ?? '');
    return {
      state: location.searchParams.get('state')!,
      nonce: location.searchParams.get('nonce')!,
    };
  }

  function sessionIdIn(jar: CookieJar): string | undefined {
    const pair = jar
      .header(new URL(baseUrl))
      ?.split('; ')
      .find((p) => p.startsWith(`${SESSION_COOKIE}=`));
    if (!pair) return undefined;
    const value = decodeURIComponent(pair.slice(SESSION_COOKIE.length + 1));
    return value.startsWith('s:') ? value.slice(2, value.lastIndexOf('.')) : undefined;
  }

  async function privateStatus(jar: CookieJar): Promise<number> {
    const response = await send(jar, '/private', { headers: { accept: 'application/json' } });
    await response.body?.cancel();
    return response.status;
  }

  /** A whole login against the token endpoint's current answer. */
  async function loginWith(answer: (nonce: string) => TokenAnswer | Promise<TokenAnswer>) {
    const jar = new CookieJar();
    const { state, nonce } = await startLogin(jar);
    tokens.answer = await answer(nonce);
    const before = sessionIdIn(jar);
    const callback = await send(jar, `/login/callback?code=the-code&state=${state}`);
    const text = await callback.text();
    return { jar, callback, text, before, after: sessionIdIn(jar) };
  }

  function idTokenFor(nonce: string, claims: Record<string, unknown> = {}): Promise<string> {
    return signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID, nonce, ...claims });
  }

  async function expectNothingRecorded(...sessionIds: Array<string | undefined>): Promise<void> {
    for (const id of sessionIds) {
      if (id !== undefined) {
        expect(await repository.findByClientSessionId(hashSessionId(id))).toBeUndefined();
      }
    }
  }

  it('a well-formed answer logs in (the fixture works)', async () => {
    const result = await loginWith(async (nonce) => tokenResponse(await idTokenFor(nonce)));
    expect(result.callback.status).toBe(200);
    expect(await privateStatus(result.jar)).toBe(200);
  });

  it('item 18: an OP that does not announce RFC 9207: no iss is accepted, a wrong one refused before the code exchange', async () => {
    expect(op.metadata().authorization_response_iss_parameter_supported).toBeUndefined();
    const jar = new CookieJar();
    const { state, nonce } = await startLogin(jar);
    tokens.answer = tokenResponse(await idTokenFor(nonce));
    const requestsBefore = tokens.requests;
    const wrong = await send(
      jar,
      `/login/callback?code=c&state=${state}&iss=${encodeURIComponent('https://evil.example')}`,
    );
    expect(wrong.status).toBe(401);
    expect(await wrong.json()).toMatchObject({ error: 'login_failed' });
    expect(tokens.requests).toBe(requestsBefore);
    await expectNothingRecorded(sessionIdIn(jar));
    const right = await send(
      jar,
      `/login/callback?code=c&state=${state}&iss=${encodeURIComponent(op.issuer)}`,
    );
    expect(right.status).toBe(200);
    expect(await privateStatus(jar)).toBe(200);
  });

  describe('item 11: the token response cannot take the process down', () => {
    const badIdTokens: Array<[string, (nonce: string) => unknown]> = [
      ['a number', () => 42],
      ['an object', () => ({ a: 1 })],
      ['an array', () => ['x.y.z']],
      ['true', () => true],
      ['a JWT whose payload is null', () => `${b64url({ alg: 'RS256' })}.${b64url('null')}.sig`],
      ['a JWT whose payload is a number', () => `${b64url({ alg: 'RS256' })}.${b64url('7')}.sig`],
      ['a JWT whose payload is not JSON', () => `${b64url({ alg: 'RS256' })}.${b64url('{')}.sig`],
      ['one segment', () => 'abc'],
      ['an empty string', () => ''],
    ];
    for (const [what, idToken] of badIdTokens) {
      it(`id_token ${what}: 401 login_failed, the process survives, nothing recorded`, async () => {
        const result = await loginWith((nonce) => tokenResponse(idToken(nonce)));
        // Let a nextTick or timer throw, if one would.
        await new Promise((resolve) => setTimeout(resolve, 50));
        expect(uncaught).toEqual([]);
        expect(result.callback.status).toBe(401);
        expect(JSON.parse(result.text)).toEqual({
          error: 'login_failed',
          error_description: 'The login was refused; start again',
        });
        await expectNothingRecorded(result.before, result.after);
        expect(await privateStatus(result.jar)).toBe(401);
      });
    }

    it('a token response without id_token: 401, no stack trace in the answer', async () => {
      const result = await loginWith(() => (_req, res) => json(res, 200, { access_token: 'at' }));
      expect(result.callback.status).toBe(401);
      expect(result.text).not.toMatch(/at .*\.(js|ts):\d+/);
      await expectNothingRecorded(result.before, result.after);
    });
  });

  describe('item 13: a signed ID token without exp, iat or sub is a refused login (401), not a 500', () => {
    for (const claim of ['exp', 'iat', 'sub', 'iss', 'aud']) {
      it(`without ${claim}`, async () => {
        const errorsBefore = logger.lines.filter((l) => l.level === 'error').length;
        const result = await loginWith(async (nonce) =>
          tokenResponse(await idTokenFor(nonce, { [claim]: undefined })),
        );
        expect(result.callback.status).toBe(401);
        expect(JSON.parse(result.text)).toMatchObject({ error: 'login_failed' });
        expect(result.text).not.toMatch(/stack|at .*:\d+:\d+/);
        // No "Internal server error" with a stack trace in the log either.
        expect(logger.lines.filter((l) => l.level === 'error').length).toBe(errorsBefore);
        await expectNothingRecorded(result.before, result.after);
        expect(await privateStatus(result.jar)).toBe(401);
      });
    }
  });

  describe('item 12: the token response is read up to 256 KiB, counting bytes', () => {
    it('stops reading an endless answer at the limit (no Content-Length)', async () => {
      const total = 64 * 1024 * 1024;
      const chunk = Buffer.alloc(64 * 1024, 0x61);
      const started = Date.now();
      const result = await loginWith(() => (_req, res) => {
        res.writeHead(200, { 'content-type': 'application/json' });
        let written = 0;
        const index = tokens.bytesWritten.push(0) - 1;
        const pump = (): void => {
          while (written < total && !res.destroyed) {
            written += chunk.length;
            tokens.bytesWritten[index] = written;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        res.on('close', () => undefined);
        pump();
      });
      expect(Date.now() - started).toBeLessThan(10_000);
      expect([502, 503]).toContain(result.callback.status);
      await expectNothingRecorded(result.before, result.after);
      // The app stopped reading soon after 256 KiB: far less than the 64 MiB on offer was sent.
      expect(tokens.bytesWritten.at(-1)).toBeLessThan(16 * 1024 * 1024);
    });

    it('refuses a Content-Length beyond the limit without reading the body', async () => {
      const started = Date.now();
      const result = await loginWith(() => (_req, res) => {
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': String(300 * 1024),
        });
        res.write('{"id_token":"');
        // Never sends the rest: an app that waits for the whole body would hang here.
      });
      // Refused at once, not after the HTTP timeout (5 s).
      expect(Date.now() - started).toBeLessThan(2_000);
      expect([502, 503]).toContain(result.callback.status);
      await expectNothingRecorded(result.before, result.after);
    });
  });

  describe("item 13: recordLogin's errors at an app's own login route get their status, without a filter", () => {
    async function ownLogin(
      jar: CookieJar,
      body: Record<string, unknown>,
    ): Promise<{ status: number; json: Record<string, unknown>; text: string }> {
      const response = await send(jar, '/own/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const text = await response.text();
      return { status: response.status, json: JSON.parse(text) as Record<string, unknown>, text };
    }

    function expectSafe(text: string, token?: string): void {
      expect(text).not.toMatch(/stack|at .*:\d+:\d+|node_modules/);
      if (token) expect(text).not.toContain(token.split('.')[1]!);
    }

    it('a valid token: 200 (the route works)', async () => {
      const jar = new CookieJar();
      const token = await signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID, sub: 'own-1' });
      const answer = await ownLogin(jar, { idToken: token, registrationId: 'hostile' });
      expect(answer.status).toBe(200);
    });

    it('ERR_ID_TOKEN_INVALID: 401', async () => {
      const token = await signIdToken(op.keys, {
        iss: op.issuer,
        aud: 'someone-else',
        sub: 'own-2',
      });
      const answer = await ownLogin(new CookieJar(), { idToken: token, registrationId: 'hostile' });
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ statusCode: 401, error: 'ERR_ID_TOKEN_INVALID' });
      expectSafe(answer.text, token);
    });

    it('ERR_SESSION_ENDED: 401', async () => {
      const sid = `ended-${Date.now()}`;
      // The OP's logout arrived (tombstone) before this login, issued earlier, is recorded.
      await logoutService.revoke({ registrationId: 'hostile', sid });
      const token = await signIdToken(op.keys, {
        iss: op.issuer,
        aud: CLIENT_ID,
        sub: 'own-3',
        sid,
        iat: nowSeconds() - 30,
      });
      const jar = new CookieJar();
      const answer = await ownLogin(jar, { idToken: token, registrationId: 'hostile' });
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ statusCode: 401, error: 'ERR_SESSION_ENDED' });
      expectSafe(answer.text, token);
    });

    it('ERR_NO_SESSION: 401', async () => {
      const token = await signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID, sub: 'own-4' });
      const answer = await ownLogin(new CookieJar(), {
        idToken: token,
        registrationId: 'hostile',
        withoutSession: true,
      });
      expect(answer.status).toBe(401);
      expect(answer.json).toMatchObject({ statusCode: 401, error: 'ERR_NO_SESSION' });
      expectSafe(answer.text, token);
    });

    it('ERR_UNKNOWN_REGISTRATION: 400', async () => {
      const token = await signIdToken(op.keys, { iss: 'https://unknown.example', aud: 'x' });
      const answer = await ownLogin(new CookieJar(), { idToken: token });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ statusCode: 400, error: 'ERR_UNKNOWN_REGISTRATION' });
      expectSafe(answer.text, token);
    });

    it('ERR_REPOSITORY_UNAVAILABLE: 503, generic message', async () => {
      repository.failing.add('save');
      const token = await signIdToken(op.keys, { iss: op.issuer, aud: CLIENT_ID, sub: 'own-5' });
      const answer = await ownLogin(new CookieJar(), { idToken: token, registrationId: 'hostile' });
      expect(answer.status).toBe(503);
      expect(answer.json).toMatchObject({ statusCode: 503, error: 'ERR_REPOSITORY_UNAVAILABLE' });
      expectSafe(answer.text, token);
      expect(answer.text).not.toContain('connection refused');
    });

    it('ERR_DISCOVERY_FAILED: 503', async () => {
      const token = await signIdToken(op.keys, { iss: downOp.issuer, aud: 'down-client' });
      const answer = await ownLogin(new CookieJar(), { idToken: token, registrationId: 'down' });
      expect(answer.status).toBe(503);
      expect(answer.json).toMatchObject({ statusCode: 503, error: 'ERR_DISCOVERY_FAILED' });
      expectSafe(answer.text, token);
      expect(answer.text).not.toContain(downOp.issuer);
    });
  });
});
