import { Injectable, Module, type LoggerService } from '@nestjs/common';
import { Test } from '@nestjs/testing';
import { TypeOrmModule } from '@nestjs/typeorm';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  InMemoryOidcSessionRepository,
  LogoutService,
  OidcLogoutModule,
  OidcLogoutOptionsError,
  OidcSessionGuard,
  OidcSessionRepository,
  type OidcLogoutModuleOptions,
} from '../../lib';
import { OIDC_LOGOUT_ENTITIES, TypeOrmOidcSessionRepository } from '../../lib/typeorm';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
import { startTestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});

afterAll(async () => {
  await op?.close();
});

function options(overrides: Partial<OidcLogoutModuleOptions> = {}): OidcLogoutModuleOptions {
  return {
    clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
    ...overrides,
  };
}

async function loginAndCheck(url: string, issuer = op.issuer): Promise<void> {
  const idToken = await signIdToken(keys, { iss: issuer, aud: 'app', sub: 'u', sid: 's' });
  const { agent } = await logIn(url, idToken);
  await agent.get('/private').expect(200);
}

describe('OidcLogoutModule', () => {
  it('forRoot without a DataSource uses the bounded in-memory repository', async () => {
    const app = await startTestApp({ oidc: options() });
    try {
      expect(app.repository).toBeInstanceOf(InMemoryOidcSessionRepository);
      await loginAndCheck(app.url);
    } finally {
      await app.close();
    }
  });

  it("finds the app's own TypeORM DataSource (@nestjs/typeorm) and uses it", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-logout-'));
    const app = await startTestApp({
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: join(dir, 'app.sqlite'),
          entities: [...OIDC_LOGOUT_ENTITIES],
          synchronize: true,
        }),
      ],
      oidc: options(),
    });
    try {
      expect(app.repository).toBeInstanceOf(TypeOrmOidcSessionRepository);
      await loginAndCheck(app.url);
    } finally {
      await app.close();
    }
  });

  it('stops at startup when the DataSource lacks OidcSessionEntity, saying how to fix it', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'oidc-logout-'));
    const compile = Test.createTestingModule({
      imports: [
        TypeOrmModule.forRoot({
          type: 'better-sqlite3',
          database: join(dir, 'app.sqlite'),
          entities: [],
        }),
        OidcLogoutModule.forRoot(options()),
      ],
    }).compile();
    await expect(compile).rejects.toThrow(/OidcSessionEntity/);
  });

  it('forRootAsync with useFactory and inject', async () => {
    @Injectable()
    class Config {
      readonly issuer = op.issuer;
    }
    @Module({ providers: [Config], exports: [Config] })
    class ConfigModule {}

    const app = await startTestApp({
      oidc: OidcLogoutModule.forRootAsync({
        imports: [ConfigModule],
        inject: [Config],
        useFactory: (config: Config) => ({
          clients: [{ registrationId: 'main', issuer: config.issuer, clientId: 'app' }],
        }),
      }),
    });
    try {
      await loginAndCheck(app.url);
    } finally {
      await app.close();
    }
  });

  it('forRootAsync with useClass', async () => {
    const issuer = op.issuer;
    @Injectable()
    class OidcOptionsFactory {
      createOidcLogoutOptions(): OidcLogoutModuleOptions {
        return { clients: [{ registrationId: 'main', issuer, clientId: 'app' }] };
      }
    }
    const app = await startTestApp({
      oidc: OidcLogoutModule.forRootAsync({ useClass: OidcOptionsFactory }),
    });
    try {
      await loginAndCheck(app.url);
    } finally {
      await app.close();
    }
  });

  it('isGlobal makes the guard and LogoutService usable in modules that do not import it', async () => {
    @Module({
      providers: [
        {
          provide: 'GUARD_USER',
          inject: [OidcSessionGuard, LogoutService],
          useFactory: (g: unknown, s: unknown) => ({ g, s }),
        },
      ],
    })
    class FeatureModule {}

    const moduleRef = await Test.createTestingModule({
      imports: [OidcLogoutModule.forRoot({ ...options(), isGlobal: true }), FeatureModule],
    }).compile();
    const user = moduleRef.get<{ g: unknown; s: unknown }>('GUARD_USER');
    expect(user.g).toBeInstanceOf(OidcSessionGuard);
    expect(user.s).toBeInstanceOf(LogoutService);
    await moduleRef.close();
  });

  it('without isGlobal the module stays local', async () => {
    @Module({
      providers: [
        { provide: 'GUARD_USER', inject: [LogoutService], useFactory: (s: unknown) => s },
      ],
    })
    class FeatureModule {}
    const compile = Test.createTestingModule({
      imports: [OidcLogoutModule.forRoot(options()), FeatureModule],
    }).compile();
    await expect(compile).rejects.toThrow(/LogoutService/);
  });

  it('invalid options stop the app with a message naming the option', async () => {
    const compile = Test.createTestingModule({
      imports: [
        OidcLogoutModule.forRoot({
          clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
          routes: { logout: 'logout' },
        }),
      ],
    }).compile();
    await expect(compile).rejects.toBeInstanceOf(OidcLogoutOptionsError);
    await expect(
      Test.createTestingModule({
        imports: [OidcLogoutModule.forRoot({ clients: [] })],
      }).compile(),
    ).rejects.toThrow(/clients/);
  });

  it('exports the repository token', async () => {
    const moduleRef = await Test.createTestingModule({
      imports: [OidcLogoutModule.forRoot({ ...options(), isGlobal: true })],
    }).compile();
    expect(moduleRef.get(OidcSessionRepository)).toBeInstanceOf(InMemoryOidcSessionRepository);
    await moduleRef.close();
  });
});

describe('startup log', () => {
  /** Keeps every line with its logger context, as an application's logger receives them. */
  class ContextLogger implements LoggerService {
    readonly lines: Array<{ context: unknown; message: string }> = [];
    log(message: unknown, context?: unknown): void {
      this.lines.push({ context, message: String(message) });
    }
    error(): void {}
    warn(): void {}
  }

  it('logs one line per endpoint it binds, once, under the global prefix, where they answer', async () => {
    @Injectable()
    class Paths {
      readonly logout = '/account/logout';
    }
    @Module({ providers: [Paths], exports: [Paths] })
    class PathsModule {}

    const logger = new ContextLogger();
    const moduleRef = await Test.createTestingModule({
      imports: [
        OidcLogoutModule.forRootAsync({
          imports: [PathsModule],
          inject: [Paths],
          // Paths known only once the factory ran: why the endpoints are bound as middleware.
          useFactory: (paths: Paths) => ({ ...options(), routes: { logout: paths.logout } }),
        }),
      ],
    }).compile();
    const app = moduleRef.createNestApplication({ logger });
    app.setGlobalPrefix('api');
    try {
      await app.listen(0, '127.0.0.1');
      const mapped = logger.lines.filter((line) => line.context === 'OidcLogoutModule');
      expect(mapped.map((line) => line.message)).toEqual([
        'Mapped {/api/account/logout, ALL} route',
        'Mapped {/api/logout/callback, ALL} route',
        'Mapped {/api/logout/connect/back-channel/:registrationId, ALL} route',
        'Mapped {/api/logout/connect/front-channel/:registrationId, ALL} route',
      ]);
      // The module's endpoints answer there (not the app's 404).
      const url = (await app.getUrl()).replace('[::1]', '127.0.0.1');
      const backChannel = await request(url)
        .post('/api/logout/connect/back-channel/main')
        .type('form')
        .send({ logout_token: 'x.y.z' });
      expect(backChannel.status).toBe(400);
      expect(backChannel.body).toMatchObject({ error: 'invalid_request' });
      await request(url).get('/api/account/logout').expect(200);
    } finally {
      await app.close();
    }
  });
});

describe('discovery', () => {
  it('starts even when the OP is down, reports the failure, and recovers lazily', async () => {
    const downOp = await startFakeOp({ keys });
    await downOp.stop();
    const app = await startTestApp({
      oidc: { clients: [{ registrationId: 'main', issuer: downOp.issuer, clientId: 'app' }] },
    });
    try {
      const agent = request.agent(app.url);
      const idToken = await signIdToken(keys, { iss: downOp.issuer, aud: 'app', sub: 'u' });
      const failed = await agent.post('/test/login').send({ idToken }).expect(400);
      expect(failed.body).toEqual({ code: 'ERR_DISCOVERY_FAILED' });
      await agent.get('/private').expect(401);

      await downOp.start();
      // Failed discovery is retried at most every 5 seconds, so a dead OP is not hammered.
      await new Promise((resolve) => setTimeout(resolve, 5_200));
      await agent.post('/test/login').send({ idToken }).expect(200);
      await agent.get('/private').expect(200);
    } finally {
      await app.close();
      await downOp.close();
    }
  }, 20_000);

  it('fetches discovery once and caches it', async () => {
    const countingOp = await startFakeOp({ keys });
    const app = await startTestApp({
      oidc: { clients: [{ registrationId: 'main', issuer: countingOp.issuer, clientId: 'app' }] },
    });
    try {
      for (let i = 0; i < 3; i++) await loginAndCheck(app.url, countingOp.issuer);
      expect(countingOp.requests['/.well-known/openid-configuration']).toBe(1);
      expect(countingOp.requests['/jwks']).toBe(1);
    } finally {
      await app.close();
      await countingOp.close();
    }
  });

  it('works without discovery from static jwksUri', async () => {
    const app = await startTestApp({
      oidc: {
        clients: [
          {
            registrationId: 'main',
            issuer: op.issuer,
            clientId: 'app',
            discovery: false,
            jwksUri: op.jwksUri,
          },
        ],
      },
    });
    const before = op.requests['/.well-known/openid-configuration'] ?? 0;
    try {
      await loginAndCheck(app.url);
      expect(op.requests['/.well-known/openid-configuration'] ?? 0).toBe(before);
    } finally {
      await app.close();
    }
  });
});
