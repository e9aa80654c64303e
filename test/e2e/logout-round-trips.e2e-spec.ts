/**
 * What a back-channel logout costs the store before it is answered, on PostgreSQL and MariaDB:
 * two round trips (the event store's claim and tombstone in one statement, then the removal). On
 * PostgreSQL the removal's statement also marks the claim applied: nothing follows. On MariaDB
 * the claim's completion follows the answer. Counted with a TypeORM logger on the real databases.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource, Logger as TypeOrmLogger } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashSessionId, hashSid } from '../../lib/repositories/session-id-hash';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
  type DatabaseKind,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet } from '../fixtures/keys';
import { startTestApp, type TestApp } from '../fixtures/test-app';

const KINDS: readonly DatabaseKind[] = ['postgres', 'mariadb'];

for (const kind of KINDS) {
  describe.skipIf(!announceDatabase(kind, 'logout round trips e2e'))(`on ${kind}`, () => {
    let op: FakeOp;
    let dataSource: DataSource;
    let app: TestApp;
    const statements: string[] = [];

    beforeAll(async () => {
      op = await startFakeOp({ keys: await createTestKeySet() });
      dataSource = await createTestDataSource(kind, { migrations: true });
      const counting: TypeOrmLogger = {
        logQuery: (query) => void statements.push(query),
        logQueryError: () => undefined,
        logQuerySlow: () => undefined,
        logSchemaBuild: () => undefined,
        logMigration: () => undefined,
        log: () => undefined,
      };
      Object.assign(dataSource, { logger: counting });
      app = await startTestApp({
        oidc: {
          clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
          dataSource,
        },
      });
    });

    afterAll(async () => {
      await app?.close();
      if (dataSource) await destroyTestDataSource(dataSource);
      await op?.close();
    });

    const after = kind === 'postgres' ? 0 : 1;
    it(`two statements before the answer (claim + tombstone, removal), ${after} after`, async () => {
      const sid = `sid-${randomUUID()}`;
      const now = Date.now();
      await app.repository.save({
        clientSessionId: hashSessionId(randomUUID()),
        registrationId: 'main',
        issuer: op.issuer,
        clientId: 'app',
        sid: hashSid(sid),
        sub: 'alice',
        idToken: 'a.b.c',
        createdAt: new Date(now),
        expiresAt: new Date(now + 60_000),
      });
      const logout = {
        channel: 'back-channel' as const,
        sid,
        sub: 'alice',
        jti: randomUUID(),
        jtiExpiresAt: new Date(now + 120_000),
        issuedAt: Math.floor(now / 1000),
      };
      const registration = app.logoutService.getRegistration('main');
      statements.length = 0;
      const applied = await app.logoutService.applyLogout(registration, logout);
      // What ran until the endpoint answers.
      const beforeAnswer = [...statements];
      expect(applied.sessions).toHaveLength(1);
      expect(beforeAnswer, beforeAnswer.join('\n')).toHaveLength(2);
      // MariaDB: the completion follows on the next turn of the event loop. Either way the token
      // is a replay from then on.
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(statements.length).toBe(2 + after);
      expect(await app.logoutService.applyLogout(registration, logout)).toEqual({
        replayed: true,
        sessions: [],
      });
    });
  });
}
