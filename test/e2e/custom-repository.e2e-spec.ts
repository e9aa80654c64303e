import { Global, Injectable, Logger, Module } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  InMemoryOidcLogoutEventStore,
  InMemoryOidcSessionRepository,
  OidcLogoutModule,
  OidcSessionRepository,
  type OidcLogoutCriteria,
  type OidcLogoutModuleOptions,
  type OidcSessionInfo,
} from '../../lib';
import { OIDC_LOGOUT_ENTITIES } from '../../lib/typeorm';
import { EXPIRE_ENTRIES } from '../../lib/logout-events/oidc-logout-event.store';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { guardedStatus, logIn, tryLogIn } from '../fixtures/login';
import { RecordingRepository } from '../fixtures/recording-repository';
import { startTestApp } from '../fixtures/test-app';
import { signIdToken } from '../fixtures/tokens';

/** A dependency of the user's repository class, to show it is built with injection. */
@Injectable()
class RepositoryConfig {
  readonly prefix = 'sessions:';
}

@Injectable()
class InjectedRepository extends RecordingRepository {
  constructor(readonly config: RepositoryConfig) {
    super();
  }
}

@Module({ providers: [RepositoryConfig], exports: [RepositoryConfig] })
class RepositoryConfigModule {}

let keys: TestKeySet;
let op: FakeOp;

beforeAll(async () => {
  keys = await createTestKeySet();
  op = await startFakeOp({ keys });
});
afterAll(async () => op?.close());

function options(extra: Partial<OidcLogoutModuleOptions> = {}): OidcLogoutModuleOptions {
  return { clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }], ...extra };
}

async function login(url: string, sid = 'sid-1') {
  const idToken = await signIdToken(keys, { iss: op.issuer, aud: 'app', sub: 'user', sid });
  return (await logIn(url, idToken)).agent;
}

describe('a user-supplied session repository', () => {
  it('as an instance in the sessionRepository option', async () => {
    const repository = new RecordingRepository();
    const app = await startTestApp({
      oidc: options({ sessionRepository: repository, logoutEventStore: repository.events }),
    });
    try {
      expect(app.repository).toBe(repository);
      const agent = await login(app.url);
      await agent.get('/private').expect(200);
      await app.logoutService.revoke({ registrationId: 'main', sid: 'sid-1' });
      await agent.get('/private').expect(401);
      expect(repository.calls).toEqual([
        'save',
        'findTombstones',
        'find',
        // The tombstone (and, with a logout token, its claim): one call, then the removal.
        'begin',
        'removeByLogoutToken',
        'find',
        // The guard destroys the ended local session; a destroyed session leaves no record.
        'remove',
      ]);
    } finally {
      await app.close();
    }
  });

  it('as a class in the sessionRepository option, built by Nest with injection', async () => {
    // The class's dependencies must be visible to the module: forRootAsync's imports (or a global module).
    const app = await startTestApp({
      oidc: OidcLogoutModule.forRootAsync({
        imports: [RepositoryConfigModule],
        useFactory: () => options({ sessionRepository: InjectedRepository }),
      }),
    });
    try {
      expect(app.repository).toBeInstanceOf(InjectedRepository);
      expect((app.repository as InjectedRepository).config.prefix).toBe('sessions:');
      const agent = await login(app.url);
      await agent.get('/private').expect(200);
      // The logout events go to the default event store (in memory here: no DataSource).
      expect((app.repository as InjectedRepository).calls).toEqual(['save', 'find']);
    } finally {
      await app.close();
    }
  });

  it('through Test.createTestingModule(...).overrideProvider(OidcSessionRepository)', async () => {
    const repository = new RecordingRepository();
    const app = await startTestApp({
      oidc: options(),
      configure: (builder) => builder.overrideProvider(OidcSessionRepository).useValue(repository),
    });
    try {
      expect(app.repository).toBe(repository);
      const agent = await login(app.url);
      await agent.get('/private').expect(200);
      expect(repository.calls).toEqual(['save', 'find']);
    } finally {
      await app.close();
    }
  });

  it("every cleanupIntervalSeconds the module expires the library's own stores, never asks a custom one", async () => {
    const repository = new RecordingRepository();
    const expire = vi.spyOn(InMemoryOidcLogoutEventStore.prototype, EXPIRE_ENTRIES);
    const app = await startTestApp({
      oidc: options({ sessionRepository: repository, cleanupIntervalSeconds: 1 }),
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_300));
      expect(expire.mock.calls.length).toBeGreaterThanOrEqual(2);
      // A custom store expires its own records: the cleanup asks it nothing.
      expect(repository.calls).toEqual([]);
    } finally {
      expire.mockRestore();
      await app.close();
    }
  });

  it('with the per-process event store (no DataSource), the startup warns, as for the in-memory session store', async () => {
    const warn = vi.spyOn(Logger.prototype, 'warn');
    const app = await startTestApp({
      oidc: options({ sessionRepository: new RecordingRepository() }),
    });
    try {
      const warnings = warn.mock.calls.map(([message]) => String(message));
      expect(warnings).toContainEqual(
        expect.stringMatching(
          /No TypeORM DataSource and no logoutEventStore: logout events \(replay claims, tombstones\) are kept in memory, in this process only/,
        ),
      );
    } finally {
      warn.mockRestore();
      await app.close();
    }
  });

  it("a custom repository with only the four methods, on two instances: the logout events are shared through the app's DataSource", async () => {
    // One session store both instances share (a Redis, say), and one SQLite database, each
    // instance with its own DataSource on it, as two processes would have.
    const sessions = new FourMethodRepository();
    const file = join(mkdtempSync(join(tmpdir(), 'oidc-logout-')), 'shared.sqlite');
    const dataSources = [0, 1].map(
      () =>
        new DataSource({
          type: 'better-sqlite3',
          database: file,
          entities: [...OIDC_LOGOUT_ENTITIES],
          synchronize: true,
        }),
    );
    const apps: Awaited<ReturnType<typeof startTestApp>>[] = [];
    try {
      for (const dataSource of dataSources) {
        await dataSource.initialize();
        apps.push(
          await startTestApp({
            imports: [appDataSourceModule(dataSource)],
            oidc: options({ sessionRepository: sessions }),
          }),
        );
      }
      const [a, b] = apps as [(typeof apps)[0], (typeof apps)[0]];
      // The OP ended sid-shared through instance A (its tombstone is in the database)...
      await a.logoutService.revoke({ registrationId: 'main', sid: 'sid-shared' });
      // ...so a late login of that OP session recorded by instance B is refused there.
      const idToken = await signIdToken(keys, {
        iss: op.issuer,
        aud: 'app',
        sub: 'user',
        sid: 'sid-shared',
        iat: Math.floor(Date.now() / 1000) - 5,
      });
      const { agent, response } = await tryLogIn(b.url, idToken);
      expect(response.status).not.toBe(200);
      expect(await guardedStatus(agent)).toBe(401);
    } finally {
      for (const app of apps) await app.close();
      for (const dataSource of dataSources)
        if (dataSource.isInitialized) await dataSource.destroy();
    }
  });
});

/** The app's own DataSource, as `TypeOrmModule.forRoot` provides it (global). */
function appDataSourceModule(dataSource: DataSource) {
  @Global()
  @Module({ providers: [{ provide: DataSource, useValue: dataSource }], exports: [DataSource] })
  class AppDataSourceModule {}
  return AppDataSourceModule;
}

/** The smallest custom session store: the four abstract methods, nothing else. */
class FourMethodRepository extends OidcSessionRepository {
  private readonly inner = new InMemoryOidcSessionRepository();
  save(info: OidcSessionInfo) {
    return this.inner.save(info);
  }
  findByClientSessionId(id: string) {
    return this.inner.findByClientSessionId(id);
  }
  removeByClientSessionId(id: string) {
    return this.inner.removeByClientSessionId(id);
  }
  removeByLogoutToken(criteria: OidcLogoutCriteria) {
    return this.inner.removeByLogoutToken(criteria);
  }
}

describe('the guard fails closed when the session store cannot answer', () => {
  it('answers 503, never 200, with a store that rejects', async () => {
    const repository = new RecordingRepository();
    repository.failing.add('find');
    const app = await startTestApp({ oidc: options({ sessionRepository: repository }) });
    try {
      const agent = await login(app.url);
      const response = await agent.get('/private').expect(503);
      expect(response.body).toEqual({
        statusCode: 503,
        error: 'Service Unavailable',
        message: 'The session store is unavailable; try again later',
      });
      await agent.get('/public').expect(200);
    } finally {
      await app.close();
    }
  });

  it('answers 503 when the real SQLite DataSource is gone, and nothing was lost', async () => {
    const dataSource = new DataSource({
      type: 'better-sqlite3',
      database: join(mkdtempSync(join(tmpdir(), 'oidc-logout-')), 'down.sqlite'),
      entities: [...OIDC_LOGOUT_ENTITIES],
      synchronize: true,
    });
    const app = await startTestApp({ oidc: options({ dataSource }) });
    try {
      const agent = await login(app.url, 'sid-down');
      await agent.get('/private').expect(200);
      await dataSource.destroy();
      await agent.get('/private').expect(503);
      await dataSource.initialize();
      await agent.get('/private').expect(200);
    } finally {
      await app.close();
      if (dataSource.isInitialized) await dataSource.destroy();
    }
  });
});
