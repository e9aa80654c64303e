import { createHash } from 'node:crypto';
import { createServer } from 'node:net';
import {
  Controller,
  ExecutionContext,
  ForbiddenException,
  Get,
  Injectable,
  Module,
  Req,
  UseGuards,
  type INestApplication,
  type LoggerService,
} from '@nestjs/common';
import { PassportSerializer } from '@nestjs/passport';
import { Test } from '@nestjs/testing';
import type { Request } from 'express';
import session from 'express-session';
import { decodeJwt } from 'jose';
import passport from 'passport';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  createOidcLoginStrategyProvider,
  createOidcLoginStrategyProviderAsync,
  OidcLoginGuard,
  type OidcLoginUser,
} from '../../lib/passport';
import { hashSessionId, hashSid } from '../../lib/repositories/session-id-hash';
import {
  OidcLogoutModule,
  OidcSessionGuard,
  OidcSessionRepository,
  type OidcSessionInfo,
} from '../../lib';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { CookieJar, logoutAtOp, startRealOp, type RealOp } from '../fixtures/real-op';
import { registeredSessionId } from '../fixtures/session-ids';

/**
 * Login through the library's passport-openidconnect strategy against a real OP (node
 * oidc-provider): the app makes the authorization request, the test plays the browser at the OP's
 * login and consent pages, the app's callback exchanges the code (PKCE, client_secret_basic) and
 * records the login for the session that passport regenerates.
 */

const SESSION_COOKIE = 'connect.sid';

/** Logger that keeps what Nest and the library print, to check for warnings. */
class RecordingLogger implements LoggerService {
  readonly lines: Array<{ level: string; message: string }> = [];
  log(message: unknown): void {
    this.lines.push({ level: 'log', message: String(message) });
  }
  error(message: unknown): void {
    this.lines.push({ level: 'error', message: String(message) });
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

function regenerateSession(request: Request): Promise<void> {
  return new Promise((resolve, reject) =>
    request.session.regenerate((error: unknown) =>
      error ? reject(error instanceof Error ? error : new Error('regenerate failed')) : resolve(),
    ),
  );
}

/**
 * The application's configuration, shaped like @nestjs/config's `ConfigService` (which the async
 * form of the login strategy is meant for): values read by key, injected where needed.
 */
class AppConfig {
  constructor(private readonly values: Readonly<Record<string, string>>) {}
  getOrThrow(key: string): string {
    const value = this.values[key];
    if (value === undefined) throw new Error(`missing configuration ${key}`);
    return value;
  }
}

/** An application's own answer to a refused login, by subclassing the guard. */
class ForbiddingLoginGuard extends OidcLoginGuard('oidc:main') {
  override handleRequest<TUser = unknown>(
    error: unknown,
    user: unknown,
    info: unknown,
    context: ExecutionContext,
  ): TUser {
    if (!error && user) return super.handleRequest<TUser>(error, user, info, context);
    throw new ForbiddenException('custom answer');
  }
}

@Controller()
class LoginController {
  @Get('login')
  @UseGuards(OidcLoginGuard('oidc:main'))
  login(): void {}

  @Get('login/callback/main')
  @UseGuards(OidcLoginGuard('oidc:main'))
  callback(@Req() request: Request): { user: unknown } {
    return { user: request.user };
  }

  @Get('login/callback/custom')
  @UseGuards(ForbiddingLoginGuard)
  callbackCustom(): void {}

  @Get('login/picky')
  @UseGuards(OidcLoginGuard('oidc:picky'))
  loginPicky(): void {}

  @Get('login/callback/picky')
  @UseGuards(OidcLoginGuard('oidc:picky'))
  callbackPicky(@Req() request: Request): { user: unknown } {
    return { user: request.user };
  }

  @Get('login/foreign')
  @UseGuards(OidcLoginGuard('oidc:foreign-keys'))
  loginForeign(): void {}

  @Get('login/callback/foreign-keys')
  @UseGuards(OidcLoginGuard('oidc:foreign-keys'))
  callbackForeign(@Req() request: Request): { user: unknown } {
    return { user: request.user };
  }

  @Get('login/configured')
  @UseGuards(OidcLoginGuard('oidc:configured'))
  loginConfigured(): void {}

  @Get('login/callback/configured')
  @UseGuards(OidcLoginGuard('oidc:configured'))
  callbackConfigured(@Req() request: Request): { user: unknown } {
    return { user: request.user };
  }

  @Get('login/down')
  @UseGuards(OidcLoginGuard('oidc:down'))
  loginDown(): void {}

  @Get('private')
  @UseGuards(OidcSessionGuard)
  private(@Req() request: Request): { ok: true; user: unknown } {
    return { ok: true, user: request.user };
  }

  /**
   * The application changes the session id of a logged-in user (e.g. on a privilege change), and
   * writes into the new session, which express-session then saves and sends.
   */
  @Get('regenerate')
  @UseGuards(OidcSessionGuard)
  async regenerate(@Req() request: Request): Promise<{ ok: true }> {
    await regenerateSession(request);
    (request.session as unknown as Record<string, unknown>).notice = 'regenerated';
    return { ok: true };
  }

  /** The same at '/', the one path a wildcard middleware binding is most likely to miss. */
  @Get()
  @UseGuards(OidcSessionGuard)
  async root(@Req() request: Request): Promise<{ ok: true }> {
    await regenerateSession(request);
    (request.session as unknown as Record<string, unknown>).notice = 'regenerated';
    return { ok: true };
  }

  /** passport's logout (which regenerates the session), then a notice in the new session. */
  @Get('passport-logout')
  async passportLogout(@Req() request: Request): Promise<{ ok: true }> {
    await new Promise<void>((resolve, reject) =>
      request.logout((error: unknown) =>
        error ? reject(error instanceof Error ? error : new Error('logout failed')) : resolve(),
      ),
    );
    (request.session as unknown as Record<string, unknown>).notice = 'You are logged out';
    return { ok: true };
  }

  /** The application ends the session itself. */
  @Get('destroy')
  async destroy(@Req() request: Request): Promise<{ ok: true }> {
    await new Promise<void>((resolve) => request.session.destroy(() => resolve()));
    return { ok: true };
  }
}

/** A free port on 127.0.0.1: the strategies' callback URLs must be known before the app listens. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

interface LoginApp {
  app: INestApplication;
  url: string;
  repository: OidcSessionRepository;
  logger: RecordingLogger;
}

async function startLoginApp(port: number, issuer: string, foreignOp: FakeOp, downOp: FakeOp) {
  const url = `http://127.0.0.1:${port}`;

  @Module({
    imports: [
      OidcLogoutModule.forRoot({
        isGlobal: true,
        clients: [
          {
            registrationId: 'main',
            issuer,
            clientId: 'login-main',
            clientSecret: 'login-main-secret',
            backChannel: { sessionRequired: true },
          },
          {
            registrationId: 'picky',
            issuer,
            clientId: 'login-picky',
            clientSecret: 'login-picky-secret',
          },
          {
            // The real OP's tokens, checked against another OP's keys: never trusted.
            registrationId: 'foreign-keys',
            issuer,
            clientId: 'login-foreign',
            clientSecret: 'login-foreign-secret',
            jwksUri: foreignOp.jwksUri,
          },
          {
            registrationId: 'configured',
            issuer,
            clientId: 'login-configured',
            clientSecret: 'login-configured-secret',
          },
          {
            registrationId: 'down',
            issuer: downOp.issuer,
            clientId: 'login-down',
            clientSecret: 'login-down-secret',
          },
        ],
      }),
    ],
    controllers: [LoginController],
    providers: [
      UserSerializer,
      createOidcLoginStrategyProvider({
        registrationId: 'main',
        callbackURL: `${url}/login/callback/main`,
        scope: ['profile'],
      }),
      createOidcLoginStrategyProvider({
        registrationId: 'picky',
        callbackURL: `${url}/login/callback/picky`,
        // The application's own user, and its own refusal.
        validate: (verified) =>
          verified.sub === 'zoe' ? false : { id: verified.sub, via: verified.claims.aud },
      }),
      createOidcLoginStrategyProvider({
        registrationId: 'foreign-keys',
        callbackURL: `${url}/login/callback/foreign-keys`,
      }),
      createOidcLoginStrategyProvider({
        registrationId: 'down',
        callbackURL: `${url}/login/callback/down`,
      }),
      {
        provide: AppConfig,
        useValue: new AppConfig({
          LOGIN_REGISTRATION: 'configured',
          LOGIN_CALLBACK_URL: `${url}/login/callback/configured`,
          LOGIN_SCOPE: 'profile email',
        }),
      },
      // The strategy's options from the configuration, made by an async factory at startup.
      createOidcLoginStrategyProviderAsync({
        inject: [AppConfig],
        useFactory: async (config: AppConfig) => {
          await new Promise((resolve) => setTimeout(resolve, 10));
          return {
            registrationId: config.getOrThrow('LOGIN_REGISTRATION'),
            callbackURL: config.getOrThrow('LOGIN_CALLBACK_URL'),
            scope: config.getOrThrow('LOGIN_SCOPE'),
          };
        },
      }),
    ],
  })
  class LoginAppModule {}

  const logger = new RecordingLogger();
  const moduleRef = await Test.createTestingModule({ imports: [LoginAppModule] }).compile();
  moduleRef.useLogger(logger);
  const app = moduleRef.createNestApplication({ logger });
  app.use(
    session({
      name: SESSION_COOKIE,
      secret: 'login-test-secret',
      genid: registeredSessionId, // its ids must never be logged
      resave: false,
      saveUninitialized: false,
      cookie: { httpOnly: true, sameSite: 'lax' },
    }),
  );
  app.use(passport.session());
  await app.listen(port, '127.0.0.1');
  return { app, url, repository: app.get(OidcSessionRepository), logger } satisfies LoginApp;
}

/** One request with a jar's cookies, no redirect followed; the answer's cookies go to the jar. */
async function send(jar: CookieJar, url: URL, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  const cookie = jar.header(url);
  if (cookie) headers.set('cookie', cookie);
  const response = await fetch(url, { ...init, headers, redirect: 'manual' });
  jar.store(url, response.headers.getSetCookie());
  return response;
}

/** The hidden fields and action of the OP's interaction form (`prompt` login or consent). */
function interactionForm(html: string): { action: string; fields: URLSearchParams } | undefined {
  for (const form of html.matchAll(/<form\b([^>]*)>([\s\S]*?)<\/form>/gi)) {
    const fields = new URLSearchParams();
    for (const input of (form[2] ?? '').matchAll(/<input\b([^>]*)>/gi)) {
      const attributes = input[1] ?? '';
      const name = /\bname="([^"]*)"/.exec(attributes)?.[1];
      const value = /\bvalue="([^"]*)"/.exec(attributes)?.[1] ?? '';
      if (name && /\btype="hidden"/.test(attributes)) fields.set(name, value);
    }
    const action = /\baction="([^"]*)"/.exec(form[1] ?? '')?.[1];
    if (action && fields.has('prompt')) return { action, fields };
  }
  return undefined;
}

/** The application session id in a jar (express-session's signed cookie `s:<id>.<signature>`). */
function sessionIdIn(jar: CookieJar, url: string): string | undefined {
  const cookie = jar
    .header(new URL(url))
    ?.split('; ')
    .find((pair) => pair.startsWith(`${SESSION_COOKIE}=`));
  if (!cookie) return undefined;
  const value = decodeURIComponent(cookie.slice(SESSION_COOKIE.length + 1));
  return value.startsWith('s:') ? value.slice(2, value.lastIndexOf('.')) : undefined;
}

describe('Login with passport-openidconnect against a real OP (oidc-provider)', () => {
  let op: RealOp;
  let foreignOp: FakeOp;
  let downOp: FakeOp;
  let login: LoginApp;
  let deliveriesBefore = 0;
  /** What the OP's token endpoint received, per successful code exchange. */
  const grants: Array<{ clientId?: string; codeVerifier?: unknown; basicAuth: boolean }> = [];
  /** Code exchanges the OP refused. */
  let grantErrors = 0;

  beforeAll(async () => {
    foreignOp = await startFakeOp();
    downOp = await startFakeOp();
    await downOp.stop(); // down when the app starts
    const port = await freePort();
    op = await startRealOp({
      clients: async (issuer) => {
        login = await startLoginApp(port, issuer, foreignOp, downOp);
        return [
          {
            clientId: 'login-main',
            clientSecret: 'login-main-secret',
            redirectUri: `${login.url}/login/callback/main`,
            backchannelLogoutUri: `${login.url}/logout/connect/back-channel/main`,
            backchannelLogoutSessionRequired: true,
          },
          {
            clientId: 'login-picky',
            clientSecret: 'login-picky-secret',
            redirectUri: `${login.url}/login/callback/picky`,
            backchannelLogoutUri: `${login.url}/logout/connect/back-channel/picky`,
            backchannelLogoutSessionRequired: true,
          },
          {
            clientId: 'login-configured',
            clientSecret: 'login-configured-secret',
            redirectUri: `${login.url}/login/callback/configured`,
            backchannelLogoutUri: `${login.url}/logout/connect/back-channel/configured`,
            backchannelLogoutSessionRequired: true,
          },
          {
            clientId: 'login-foreign',
            clientSecret: 'login-foreign-secret',
            redirectUri: `${login.url}/login/callback/foreign-keys`,
            backchannelLogoutUri: `${login.url}/logout/connect/back-channel/foreign-keys`,
            backchannelLogoutSessionRequired: true,
          },
        ];
      },
    });
    op.provider.on('grant.error', () => {
      grantErrors++;
    });
    op.provider.on('grant.success', (ctx) => {
      grants.push({
        clientId: ctx.oidc.client?.clientId,
        codeVerifier: ctx.oidc.params?.code_verifier,
        basicAuth: /^Basic /.test(ctx.get('authorization')),
      });
    });
  });

  afterAll(async () => {
    await login?.app.close();
    await op?.close();
    await foreignOp?.close();
    await downOp?.close();
  });

  beforeEach(() => {
    deliveriesBefore = op.deliveries.length;
    grants.length = 0;
    grantErrors = 0;
  });

  function loggedWarnings(fragment: string): string[] {
    return login.logger.lines
      .filter((l) => l.level === 'warn' && l.message.includes(fragment))
      .map((l) => l.message);
  }

  const appUrl = (path: string) => new URL(path, login.url);

  /** GET /login in the app: the redirect to the OP's authorization endpoint. */
  async function startLogin(appJar: CookieJar, path = '/login'): Promise<URL> {
    const response = await send(appJar, appUrl(path));
    expect(response.status).toBe(302);
    return new URL(response.headers.get('location') ?? '');
  }

  /** The browser at the OP: login and consent pages, until the redirect back to the app. */
  async function atTheOp(authorizationUrl: URL, opJar: CookieJar, user = 'alice'): Promise<URL> {
    let url = authorizationUrl;
    let init: RequestInit = {};
    for (let step = 0; step < 10; step++) {
      const response = await send(opJar, url, init);
      if (response.status >= 300 && response.status < 400) {
        const location = new URL(response.headers.get('location') ?? '', url);
        if (location.origin === login.url) return location;
        url = location;
        init = {};
        continue;
      }
      expect(response.status).toBe(200);
      const form = interactionForm(await response.text());
      if (!form) throw new Error(`no interaction form at ${url.href}`);
      if (form.fields.get('prompt') === 'login') {
        form.fields.set('login', user);
        form.fields.set('password', 'any password');
      }
      url = new URL(form.action, url);
      init = { method: 'POST', body: form.fields };
    }
    throw new Error('the OP never sent the browser back to the app');
  }

  /** A whole login: app, OP, app's callback. */
  async function fullLogin(user = 'alice', opJar = new CookieJar()) {
    const appJar = new CookieJar();
    const authorizationUrl = await startLogin(appJar);
    const sessionBefore = sessionIdIn(appJar, login.url);
    const callbackUrl = await atTheOp(authorizationUrl, opJar, user);
    const callback = await send(appJar, callbackUrl);
    const body = (await callback.json()) as Record<string, unknown>;
    return {
      appJar,
      opJar,
      authorizationUrl,
      callbackUrl,
      callback,
      body,
      sessionBefore,
      sessionAfter: sessionIdIn(appJar, login.url),
    };
  }

  /** The guard's message at the guarded route (a refusal expected). */
  async function privateRefusal(jar: CookieJar): Promise<unknown> {
    const response = await send(jar, appUrl('/private'), {
      headers: { accept: 'application/json' },
    });
    expect(response.status).toBe(401);
    return ((await response.json()) as { message?: unknown }).message;
  }

  async function privateStatus(jar: CookieJar): Promise<number> {
    const response = await send(jar, appUrl('/private'), {
      headers: { accept: 'application/json' },
    });
    await response.body?.cancel();
    return response.status;
  }

  function recordOf(sessionId: string | undefined): Promise<OidcSessionInfo | undefined> {
    if (sessionId === undefined) return Promise.resolve(undefined);
    return login.repository.findByClientSessionId(hashSessionId(sessionId));
  }

  it('logs in: state, nonce and PKCE S256 in the authorization request; the real sid recorded; the guarded route answers 200', async () => {
    const result = await fullLogin('alice');
    const params = result.authorizationUrl.searchParams;
    expect(`${result.authorizationUrl.origin}${result.authorizationUrl.pathname}`).toBe(
      `${op.issuer}/auth`,
    );
    expect(params.get('response_type')).toBe('code');
    expect(params.get('client_id')).toBe('login-main');
    expect(params.get('redirect_uri')).toBe(`${login.url}/login/callback/main`);
    expect(params.get('scope')).toBe('openid profile');
    expect(params.get('state')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('nonce')?.length).toBeGreaterThanOrEqual(20);
    expect(params.get('code_challenge')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(params.get('code_challenge_method')).toBe('S256');

    expect(result.callback.status).toBe(200);
    // The OP checked PKCE: the verifier it received hashes to the challenge of the request.
    expect(grants).toEqual([
      { clientId: 'login-main', codeVerifier: expect.any(String), basicAuth: true },
    ]);
    const verifier = grants[0]!.codeVerifier as string;
    expect(verifier).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(createHash('sha256').update(verifier).digest('base64url')).toBe(
      params.get('code_challenge'),
    );
    const user = result.body.user as OidcLoginUser;
    expect(user).toEqual({
      registrationId: 'main',
      issuer: op.issuer,
      sub: 'alice',
      sid: expect.any(String),
    });
    const record = await recordOf(result.sessionAfter);
    expect(record).toMatchObject({
      registrationId: 'main',
      issuer: op.issuer,
      clientId: 'login-main',
      sub: 'alice',
      // The record keeps the sid's digest; the user, as the ID token, the sid itself.
      sid: hashSid(user.sid as string),
    });
    // The raw ID token the OP issued for this very authorization request.
    const claims = decodeJwt(record!.idToken);
    expect(claims).toMatchObject({
      iss: op.issuer,
      aud: 'login-main',
      sub: 'alice',
      sid: user.sid,
      nonce: params.get('nonce'),
    });

    const privateResponse = await send(result.appJar, appUrl('/private'));
    expect(privateResponse.status).toBe(200);
    // passport's own session carries the user too.
    expect(await privateResponse.json()).toEqual({ ok: true, user });
  });

  it("records the login for the new session id after passport's regenerate; the old id has none", async () => {
    const result = await fullLogin('bob');
    expect(result.callback.status).toBe(200);
    expect(result.sessionBefore).toEqual(expect.any(String));
    expect(result.sessionAfter).toEqual(expect.any(String));
    expect(result.sessionAfter).not.toBe(result.sessionBefore);
    expect(await recordOf(result.sessionBefore)).toBeUndefined();
    expect(await recordOf(result.sessionAfter)).toMatchObject({ sub: 'bob' });
    expect(await privateStatus(result.appJar)).toBe(200);
  });

  it('item 6: a regenerate by the application ends the login: nothing passes under the new id, no record left (also on "/")', async () => {
    for (const path of ['/regenerate', '/']) {
      const result = await fullLogin('carol');
      const loggedIn = result.sessionAfter!;
      expect(await privateStatus(result.appJar)).toBe(200);

      const regenerated = await send(result.appJar, appUrl(path));
      expect(regenerated.status).toBe(200);
      const afterRegenerate = sessionIdIn(result.appJar, login.url)!;
      expect(afterRegenerate).not.toBe(loggedIn);
      expect(await recordOf(afterRegenerate)).toBeUndefined();
      expect(await recordOf(loggedIn)).toBeUndefined();
      expect(await privateStatus(result.appJar)).toBe(401);
    }
  });

  it("item 6: passport's req.logout() leaves nothing that passes: the new session (with a notice) is refused, the record is gone", async () => {
    const other = await fullLogin('olivia');
    const result = await fullLogin('carol');
    const loggedIn = result.sessionAfter!;
    expect(await privateStatus(result.appJar)).toBe(200);

    const out = await send(result.appJar, appUrl('/passport-logout'));
    expect(out.status).toBe(200);
    const afterLogout = sessionIdIn(result.appJar, login.url)!;
    // The app wrote a notice: express-session saved the new session and sent its cookie.
    expect(afterLogout).toEqual(expect.any(String));
    expect(afterLogout).not.toBe(loggedIn);
    expect(await recordOf(afterLogout)).toBeUndefined();
    expect(await recordOf(loggedIn)).toBeUndefined();
    const refused = await send(result.appJar, appUrl('/private'), {
      headers: { accept: 'application/json' },
    });
    expect(refused.status).toBe(401);
    await refused.body?.cancel();
    // Nobody else was logged out.
    expect(await privateStatus(other.appJar)).toBe(200);
    expect(await recordOf(other.sessionAfter)).toMatchObject({ sub: 'olivia' });
  });

  it('item 6: req.session.destroy() removes the login record', async () => {
    const result = await fullLogin('carol');
    const loggedIn = result.sessionAfter!;
    expect(await privateStatus(result.appJar)).toBe(200);
    const destroyed = await send(result.appJar, appUrl('/destroy'));
    expect(destroyed.status).toBe(200);
    expect(await recordOf(loggedIn)).toBeUndefined();
    expect(await privateStatus(result.appJar)).toBe(401);
  });

  it('binds the session-id follower on every route without a route-path warning', () => {
    const warnings = login.logger.lines.filter((l) => l.level !== 'log').map((l) => l.message);
    expect(warnings.filter((m) => /route path|path-to-regexp|wildcard/i.test(m))).toEqual([]);
    // The recorder does receive warnings: the OP that was down at startup was reported.
    expect(warnings.some((m) => m.includes('Registration "down"'))).toBe(true);
  });

  it('logs in with a strategy whose options came from the configuration (the async form), and the OP ends it', async () => {
    const appJar = new CookieJar();
    const opJar = new CookieJar();
    const authorizationUrl = await startLogin(appJar, '/login/configured');
    expect(authorizationUrl.searchParams.get('client_id')).toBe('login-configured');
    expect(authorizationUrl.searchParams.get('redirect_uri')).toBe(
      `${login.url}/login/callback/configured`,
    );
    expect(authorizationUrl.searchParams.get('scope')).toBe('openid profile email');
    const callback = await send(appJar, await atTheOp(authorizationUrl, opJar, 'olga'));
    expect(callback.status).toBe(200);
    expect(await callback.json()).toEqual({
      user: {
        registrationId: 'configured',
        issuer: op.issuer,
        sub: 'olga',
        sid: expect.any(String),
      },
    });
    expect(grants).toEqual([
      { clientId: 'login-configured', codeVerifier: expect.any(String), basicAuth: true },
    ]);
    const record = await recordOf(sessionIdIn(appJar, login.url));
    expect(record).toMatchObject({ registrationId: 'configured', sub: 'olga' });
    expect(await privateStatus(appJar)).toBe(200);

    await logoutAtOp(op, opJar, { idTokenHint: record!.idToken });
    expect(op.deliveries.slice(deliveriesBefore).map((d) => [d.url, d.status])).toEqual([
      [`${login.url}/logout/connect/back-channel/configured`, 200],
    ]);
    expect(await privateRefusal(appJar)).toBe('Your session has ended; log in again');
  });

  it('refuses an ID token signed with keys the registration does not trust, and records nothing', async () => {
    const appJar = new CookieJar();
    const authorizationUrl = await startLogin(appJar, '/login/foreign');
    const before = sessionIdIn(appJar, login.url);
    const callbackUrl = await atTheOp(authorizationUrl, new CookieJar(), 'mallory');
    const callback = await send(appJar, callbackUrl);
    expect(callback.status).toBe(401);
    expect(await callback.json()).toMatchObject({ error: 'login_failed' });
    expect(await recordOf(before)).toBeUndefined();
    expect(await recordOf(sessionIdIn(appJar, login.url))).toBeUndefined();
    expect(await privateStatus(appJar)).toBe(401);
    // The code exchange itself succeeded: the signature check refused the token.
    expect(grants.map((g) => g.clientId)).toEqual(['login-foreign']);
    expect(
      loggedWarnings('ERR_ID_TOKEN_INVALID: ID token rejected: no key of the OP matches'),
    ).toHaveLength(1);
  });

  it("validate maps the verified login to the app's user, or refuses it (then nothing stays recorded)", async () => {
    const accepted = new CookieJar();
    const acceptedCallback = await atTheOp(
      await startLogin(accepted, '/login/picky'),
      new CookieJar(),
      'yann',
    );
    const acceptedAnswer = await send(accepted, acceptedCallback);
    expect(acceptedAnswer.status).toBe(200);
    expect(await acceptedAnswer.json()).toEqual({ user: { id: 'yann', via: 'login-picky' } });
    expect(await recordOf(sessionIdIn(accepted, login.url))).toMatchObject({
      registrationId: 'picky',
      sub: 'yann',
    });
    expect(await privateStatus(accepted)).toBe(200);

    const refused = new CookieJar();
    const refusedCallback = await atTheOp(
      await startLogin(refused, '/login/picky'),
      new CookieJar(),
      'zoe',
    );
    const before = sessionIdIn(refused, login.url);
    const refusedAnswer = await send(refused, refusedCallback);
    expect(refusedAnswer.status).toBe(401);
    expect(await refusedAnswer.json()).toMatchObject({ error: 'login_failed' });
    expect(await recordOf(before)).toBeUndefined();
    expect(await recordOf(sessionIdIn(refused, login.url))).toBeUndefined();
    // Refused as a visitor who never logged in: the refused login left no mark in the session.
    expect(await privateRefusal(refused)).toBe('Sign in to continue');
  });

  it('a refused login whose record cannot be removed (store failing) leaves a dead session, never one that passes', async () => {
    const refused = new CookieJar();
    const callback = await atTheOp(
      await startLogin(refused, '/login/picky'),
      new CookieJar(),
      'zoe',
    );
    const before = sessionIdIn(refused, login.url);
    const repository = login.repository;
    const remove = repository.removeByClientSessionId.bind(repository);
    repository.removeByClientSessionId = () => Promise.reject(new Error('store down'));
    let answer: Response;
    try {
      answer = await send(refused, callback);
    } finally {
      repository.removeByClientSessionId = remove;
    }
    expect(answer.status).toBe(401);
    // The record was verified and saved, and could not be removed: it stays in the store, but its
    // session id is dead, so the store being back changes nothing.
    expect(await recordOf(before)).toBeDefined();
    expect(await privateStatus(refused)).toBe(401);
    await repository.removeByClientSessionId(hashSessionId(before!));
  });

  it('refuses a callback whose state does not match: altered, from another browser, or replayed', async () => {
    const appJar = new CookieJar();
    const authorizationUrl = await startLogin(appJar);
    const callbackUrl = await atTheOp(authorizationUrl, new CookieJar(), 'dave');
    const state = callbackUrl.searchParams.get('state')!;

    const altered = new URL(callbackUrl);
    altered.searchParams.set('state', `${state.slice(0, -1)}${state.endsWith('A') ? 'B' : 'A'}`);
    const refusedBefore = loggedWarnings('Invalid or expired authorization request state').length;
    const alteredAnswer = await send(appJar, altered);
    expect(alteredAnswer.status).toBe(401);
    expect(await alteredAnswer.json()).toMatchObject({ error: 'login_failed' });

    // Login CSRF: the victim's browser has no pending login for that state.
    const otherBrowser = new CookieJar();
    await send(otherBrowser, appUrl('/private')); // any request; no session is created for it
    expect((await send(otherBrowser, callbackUrl)).status).toBe(401);

    // Refused by the state check, before any code exchange; nothing recorded (the guarded route is
    // not asked here: it would end the pending login).
    expect(loggedWarnings('Invalid or expired authorization request state')).toHaveLength(
      refusedBefore + 2,
    );
    expect(grants).toEqual([]);
    expect(await recordOf(sessionIdIn(appJar, login.url))).toBeUndefined();

    // The untouched callback still works, once.
    const good = await send(appJar, callbackUrl);
    expect(good.status).toBe(200);
    expect(await privateStatus(appJar)).toBe(200);
    const replayed = await send(appJar, callbackUrl);
    expect(replayed.status).toBe(401);
  });

  it('item 18 (RFC 9207): a callback whose iss is not the issuer is refused before the code exchange; the state stays usable', async () => {
    const appJar = new CookieJar();
    const authorizationUrl = await startLogin(appJar);
    const callbackUrl = await atTheOp(authorizationUrl, new CookieJar(), 'frank');
    // oidc-provider announces and sends iss (RFC 9207).
    expect(callbackUrl.searchParams.get('iss')).toBe(op.issuer);

    for (const iss of ['https://attacker.example', `${op.issuer}/`]) {
      const mixedUp = new URL(callbackUrl);
      mixedUp.searchParams.set('iss', iss);
      const answer = await send(appJar, mixedUp);
      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({ error: 'login_failed' });
    }
    const twice = new URL(callbackUrl);
    twice.searchParams.append('iss', op.issuer);
    expect((await send(appJar, twice)).status).toBe(401);
    // The OP announces authorization_response_iss_parameter_supported: iss is required.
    const without = new URL(callbackUrl);
    without.searchParams.delete('iss');
    const withoutAnswer = await send(appJar, without);
    expect(withoutAnswer.status).toBe(401);
    expect(await withoutAnswer.json()).toMatchObject({ error: 'login_failed' });
    expect(loggedWarnings('RFC 9207').length).toBeGreaterThanOrEqual(4);

    expect(grants).toEqual([]);
    expect(grantErrors).toBe(0);
    expect(await recordOf(sessionIdIn(appJar, login.url))).toBeUndefined();

    const good = await send(appJar, callbackUrl);
    expect(good.status).toBe(200);
    expect(await privateStatus(appJar)).toBe(200);
  });

  it("item 15: the callback's error and error_description reach the log as one line, printable ASCII only", async () => {
    const bystander = await fullLogin('grace');
    const forged = '\r\n[Nest] LOG FORGED admin in\u2028x';
    for (const error of ['invalid_request', 'access_denied']) {
      const url = appUrl('/login/callback/main');
      url.searchParams.set('error', `${error}${forged}`);
      url.searchParams.set('error_description', `described${forged}`);
      url.searchParams.set('state', 'whatever');
      url.searchParams.set('iss', op.issuer);
      const answer = await send(new CookieJar(), url);
      expect(answer.status).toBe(401);
      expect(await answer.json()).toMatchObject({ error: 'login_failed' });
    }
    const lines = login.logger.lines.filter((l) => l.message.includes('FORGED'));
    expect(lines.length).toBeGreaterThanOrEqual(1);
    for (const line of lines) expect(line.message).toMatch(/^[\x20-\x7e]*$/);
    // Nothing was revoked.
    expect(await privateStatus(bystander.appJar)).toBe(200);
    expect(await recordOf(bystander.sessionAfter)).toMatchObject({ sub: 'grace' });
  });

  it('item 20: several pending logins in one browser (tabs) each succeed, in any order', async () => {
    const appJar = new CookieJar();
    const opJar = new CookieJar();
    const first = await startLogin(appJar);
    const second = await startLogin(appJar);
    const third = await startLogin(appJar);
    const firstCallback = await atTheOp(first, opJar, 'heidi');
    const secondCallback = await atTheOp(second, opJar, 'heidi');
    const thirdCallback = await atTheOp(third, opJar, 'heidi');

    for (const callbackUrl of [secondCallback, firstCallback, thirdCallback]) {
      const answer = await send(appJar, callbackUrl);
      expect(answer.status).toBe(200);
      expect(await privateStatus(appJar)).toBe(200);
    }
    expect(grants).toHaveLength(3);
    expect(await recordOf(sessionIdIn(appJar, login.url))).toMatchObject({ sub: 'heidi' });
    // Each stays single use.
    expect((await send(appJar, secondCallback)).status).toBe(401);
  });

  it('item 20: the same callback twice at once passes the state check at most once', async () => {
    const appJar = new CookieJar();
    const callbackUrl = await atTheOp(await startLogin(appJar), new CookieJar(), 'ivan');
    const cookie = appJar.header(callbackUrl) ?? '';
    const once = () =>
      fetch(callbackUrl, { headers: { cookie }, redirect: 'manual' }).then(async (r) => {
        await r.body?.cancel();
        return r.status;
      });
    const statuses = await Promise.all([once(), once(), once()]);
    // One code exchange at most: the others were refused at the state check.
    expect(grants.length + grantErrors).toBeLessThanOrEqual(1);
    expect(statuses.filter((status) => status === 200).length).toBeLessThanOrEqual(1);
    expect(statuses.filter((status) => status !== 200).every((status) => status === 401)).toBe(
      true,
    );
  });

  it('a subclass of the guard answers a refused login its own way', async () => {
    const response = await send(new CookieJar(), appUrl('/login/callback/custom?code=c&state=s'));
    expect(response.status).toBe(403);
    expect(await response.json()).toMatchObject({ message: 'custom answer' });
  });

  it('a logout at the OP back-channels the app: the guarded route answers 401', async () => {
    // A browser that never logged in is not told that a session ended.
    expect(await privateRefusal(new CookieJar())).toBe('Sign in to continue');
    const result = await fullLogin('erin');
    expect(await privateStatus(result.appJar)).toBe(200);
    const record = (await recordOf(result.sessionAfter))!;

    await logoutAtOp(op, result.opJar, { idTokenHint: record.idToken });

    const deliveries = op.deliveries.slice(deliveriesBefore);
    // The record keeps the sid's digest; the ID token, the sid itself.
    expect(record.sid).toBe(hashSid(decodeJwt(record.idToken).sid as string));
    expect(deliveries.map((d) => [d.url, d.status, d.claims.sid])).toEqual([
      [`${login.url}/logout/connect/back-channel/main`, 200, decodeJwt(record.idToken).sid],
    ]);
    // The session passport regenerated at login carries the mark of the login: it was ended.
    expect(await privateRefusal(result.appJar)).toBe('Your session has ended; log in again');
    expect(await recordOf(result.sessionAfter)).toBeUndefined();
  });

  it('an OP down at startup fails its logins with 503 (the app runs), and logins start once it is back', async () => {
    const appJar = new CookieJar();
    const down = await send(appJar, appUrl('/login/down'));
    expect(down.status).toBe(503);
    expect(await down.json()).toMatchObject({ error: 'temporarily_unavailable' });

    await downOp.start();
    // Discovery is retried at most every few seconds after a failure.
    const deadline = Date.now() + 15_000;
    let status = 503;
    let location: string | null = null;
    while (status === 503 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 250));
      const response = await send(appJar, appUrl('/login/down'));
      status = response.status;
      location = response.headers.get('location');
      await response.body?.cancel();
    }
    expect(status).toBe(302);
    expect(location).toMatch(new RegExp(`^${downOp.issuer}/auth\\?`));
  });
});
