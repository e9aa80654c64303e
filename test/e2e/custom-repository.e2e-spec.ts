import { Injectable, Module } from '@nestjs/common';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OidcLogoutModule, OidcSessionRepository, type OidcLogoutModuleOptions } from '../../lib';
import { OIDC_LOGOUT_ENTITIES } from '../../lib/typeorm';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { logIn } from '../fixtures/login';
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
    const app = await startTestApp({ oidc: options({ sessionRepository: repository }) });
    try {
      expect(app.repository).toBe(repository);
      const agent = await login(app.url);
      await agent.get('/private').expect(200);
      await app.logoutService.revoke({ registrationId: 'main', sid: 'sid-1' });
      await agent.get('/private').expect(401);
      expect(repository.calls).toEqual([
        'save',
        'findLogoutTombstones',
        'find',
        'saveLogoutTombstone',
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
      expect((app.repository as InjectedRepository).calls).toEqual([
        'save',
        'findLogoutTombstones',
        'find',
      ]);
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
      expect(repository.calls).toEqual(['save', 'findLogoutTombstones', 'find']);
    } finally {
      await app.close();
    }
  });

  it('the module calls removeExpired every cleanupIntervalSeconds', async () => {
    const repository = new RecordingRepository();
    const app = await startTestApp({
      oidc: options({ sessionRepository: repository, cleanupIntervalSeconds: 1 }),
    });
    try {
      await new Promise((resolve) => setTimeout(resolve, 2_300));
      expect(repository.calls.filter((c) => c === 'removeExpired').length).toBeGreaterThanOrEqual(
        2,
      );
    } finally {
      await app.close();
    }
  });
});

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
