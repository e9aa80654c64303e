/**
 * SQLite (better-sqlite3) gives TypeORM one connection. While the app holds a transaction of its own
 * open on the DataSource the stores use, the library's writes would run inside it, and the app's
 * rollback would undo a logout already answered 200: the stores wait until the app's transaction
 * has ended (bounded: a caller waits `storeTimeoutMs` at most, then the store counts as down).
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDataSource, destroyTestDataSource } from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const CLIENT_ID = 'app';

describe('SQLite: a transaction of the app open on the shared DataSource', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let dataSource: DataSource;
  let app: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    dataSource = await createTestDataSource('sqlite');
    app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
        dataSource,
      },
    });
  });

  afterAll(async () => {
    await app?.close();
    if (dataSource) await destroyTestDataSource(dataSource);
    await op?.close();
  });

  it('rolled back by the app, does not undo a logout answered 200', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const cookie = await loginAt(
      app.url,
      await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid }),
    );
    expect(await privateStatus(app.url, cookie)).toBe(200);
    const appWork = dataSource
      .transaction(async (manager) => {
        await manager.query('SELECT 1');
        await sleep(800);
        throw new Error('the app work failed');
      })
      .catch(() => 'rolled back');
    await sleep(50);
    const token = await signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sub, sid });
    const answer = await postLogoutToken(app.url, 'main', token);
    expect(answer.status).toBe(200);
    expect(await appWork).toBe('rolled back');
    const rows: Array<{ n: number }> = await dataSource.query(
      'SELECT count(*) AS n FROM oidc_sessions WHERE sub = ?',
      [sub],
    );
    expect(Number(rows[0]!.n)).toBe(0);
    expect(await privateStatus(app.url, cookie)).toBe(401);
  });
});
