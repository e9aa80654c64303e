/**
 * A login record whose write outlives `storeTimeoutMs` (a lock, a slow synchronous standby, a
 * stalled socket: the INSERT waits while reads still answer) is reported failed to the login, and
 * the library forgets it then; the write may still commit afterwards. Such a record must never
 * pass the guard: once the write lands, the library removes it. Real PostgreSQL, the table locked
 * by a second connection against inserts only.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import {
  postLogoutToken,
  privateStatus,
  sessionCookieOf,
  tryLoginAt,
} from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';

const enabled = announceDatabase('postgres', 'late save e2e');
const CLIENT_ID = 'app';

describe.skipIf(!enabled)('a login record written after storeTimeoutMs', () => {
  let keys: TestKeySet;
  let op: FakeOp;
  let dataSource: DataSource;
  let app: TestApp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
    dataSource = await createTestDataSource('postgres');
    app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: CLIENT_ID }],
        dataSource,
        storeTimeoutMs: 300,
      },
    });
  });

  afterAll(async () => {
    await app?.close();
    if (dataSource) await destroyTestDataSource(dataSource);
    await op?.close();
  });

  const rowsOf = async (sub: string): Promise<number> => {
    const rows: Array<{ n: number }> = await dataSource.query(
      'SELECT count(*)::int AS n FROM oidc_sessions WHERE sub = $1',
      [sub],
    );
    return rows[0]!.n;
  };

  /** Logs in with inserts held until the login has failed; then lets the insert commit. */
  async function loginWithHeldInsert(cookie: string, sub: string, sid: string) {
    const blocker = dataSource.createQueryRunner();
    await blocker.connect();
    await blocker.startTransaction();
    try {
      await blocker.query('LOCK TABLE oidc_sessions IN SHARE ROW EXCLUSIVE MODE');
      const idToken = await signIdToken(keys, { iss: op.issuer, aud: CLIENT_ID, sub, sid });
      const login = await tryLoginAt(app.url, idToken, cookie);
      expect(login.status).not.toBe(200);
      expect(await rowsOf(sub)).toBe(0);
    } finally {
      await blocker.commitTransaction();
      await blocker.release();
    }
  }

  /** Waits (bounded) for the late row to be written and then removed. */
  async function settled(sub: string): Promise<number> {
    let rows = await rowsOf(sub);
    for (let waited = 0; rows > 0 && waited < 3000; waited += 100) {
      await sleep(100);
      rows = await rowsOf(sub);
    }
    return rows;
  }

  async function freshCookie(): Promise<string> {
    const response = await fetch(`${app.url}/public`);
    await response.arrayBuffer();
    return sessionCookieOf(response)!;
  }

  it('a logout that came before the login stays in force', async () => {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const cookie = await freshCookie();
    const token = await signLogoutToken(keys, { issuer: op.issuer, clientId: CLIENT_ID, sub, sid });
    expect((await postLogoutToken(app.url, 'main', token)).status).toBe(200);

    await loginWithHeldInsert(cookie, sub, sid);
    await sleep(300);
    expect(await settled(sub)).toBe(0);
    expect(await privateStatus(app.url, cookie)).toBe(401);
  });

  it('a login reported failed never passes, even with no logout', async () => {
    const sub = `user-${randomUUID()}`;
    const cookie = await freshCookie();
    await loginWithHeldInsert(cookie, sub, `sid-${randomUUID()}`);
    await sleep(300);
    expect(await settled(sub)).toBe(0);
    expect(await privateStatus(app.url, cookie)).toBe(401);
  });
});
