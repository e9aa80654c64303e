import 'reflect-metadata';
import type { DataSource } from 'typeorm';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OidcSessionRepositoryError } from '../../lib/errors/oidc-logout.error';
import type { OidcSessionInfo } from '../../lib/interfaces/oidc-session-info.interface';
import { TypeOrmOidcLogoutEventStore } from '../../lib/logout-events/typeorm/typeorm-oidc-logout-event.store';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';

/**
 * On PostgreSQL the stores' hot-path statements run as named prepared statements (parsed and
 * planned once per connection). One pool connection here, so that the statements the stores
 * prepared are those `pg_prepared_statements` shows to the test's own queries.
 */
const ISS = 'https://op.example.com/realms/main';
const CLIENT = 'app-a';
const HOUR = 3_600_000;

const enabled = announceDatabase('postgres', 'PostgreSQL prepared statements e2e');

function session(id: string, sub: string, sid: string): OidcSessionInfo {
  const now = Date.now();
  return {
    clientSessionId: id,
    registrationId: 'main',
    issuer: ISS,
    clientId: CLIENT,
    sub,
    sid,
    idToken: `id-token-of-${id}`,
    expiresAt: new Date(now + HOUR),
    createdAt: new Date(now),
  };
}

describe.skipIf(!enabled)('TypeORM stores on PostgreSQL: prepared statements', () => {
  let dataSource: DataSource;
  let sessions: TypeOrmOidcSessionRepository;
  let events: TypeOrmOidcLogoutEventStore;

  beforeEach(async () => {
    dataSource = await createTestDataSource('postgres', { migrations: true, poolSize: 1 });
    sessions = new TypeOrmOidcSessionRepository(dataSource, { batching: false });
    events = new TypeOrmOidcLogoutEventStore(dataSource, { batching: false });
    await sessions.init();
    await events.init();
  });

  afterEach(async () => {
    await destroyTestDataSource(dataSource);
  });

  /** The library's statements prepared on the pool's connection (of `on`: one connection). */
  async function prepared(on: DataSource = dataSource): Promise<string[]> {
    const rows = await on.query<{ statement: string }[]>(
      `SELECT statement FROM pg_prepared_statements WHERE name LIKE 'nest_oidc_logout_%'`,
    );
    return rows.map((row) => row.statement);
  }

  /** A logout as the library applies it: begin, removal, completion. */
  async function logout(sid: string, jti: string): Promise<OidcSessionInfo[]> {
    const begin = await events.begin({
      claim: { key: jti, expiresAt: new Date(Date.now() + HOUR) },
      tombstone: { key: `t-${jti}`, issuedAt: 1, expiresAt: new Date(Date.now() + HOUR) },
    });
    expect(begin).toBe('apply');
    const removed = await sessions.removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid });
    await events.complete(jti);
    return removed;
  }

  it("prepares a logout's statements once on the connection and runs them prepared after", async () => {
    expect(await prepared()).toEqual([]);
    await sessions.save(session('s1', 'alice', 'sid-1'));
    await sessions.save(session('s2', 'bob', 'sid-2'));
    expect((await logout('sid-1', 'j1')).map((info) => info.clientSessionId)).toEqual(['s1']);
    const afterFirst = await prepared();
    expect(afterFirst.length).toBeGreaterThanOrEqual(3);
    expect(afterFirst.some((sql) => sql.includes('DELETE'))).toBe(true);
    expect((await logout('sid-2', 'j2')).map((info) => info.clientSessionId)).toEqual(['s2']);
    expect(await prepared()).toEqual(afterFirst);
    expect(await sessions.findByClientSessionId('s1')).toBeUndefined();
    expect(
      await events.begin({ claim: { key: 'j1', expiresAt: new Date(Date.now() + HOUR) } }),
    ).toBe('replay');
  });

  it('runs unnamed once the server no longer has its statements (a pooler, DEALLOCATE): nothing is lost', async () => {
    await sessions.save(session('s1', 'alice', 'sid-1'));
    await sessions.save(session('s2', 'bob', 'sid-2'));
    await logout('sid-1', 'j1');
    expect((await prepared()).length).toBeGreaterThan(0);
    // What PgBouncer in transaction mode does: the next statement meets a server connection
    // without them, while node-postgres believes they are prepared.
    await dataSource.query('DEALLOCATE ALL');
    expect((await logout('sid-2', 'j2')).map((info) => info.clientSessionId)).toEqual(['s2']);
    expect(await sessions.findByClientSessionId('s2')).toBeUndefined();
    expect(await prepared()).toEqual([]);
    expect(
      await events.begin({ claim: { key: 'j2', expiresAt: new Date(Date.now() + HOUR) } }),
    ).toBe('replay');
  });

  it('preparedStatements: false runs every statement unnamed, on both stores', async () => {
    const unprepared = await createTestDataSource('postgres', { poolSize: 1, initialize: false });
    await unprepared.initialize();
    try {
      const own = new TypeOrmOidcSessionRepository(unprepared, {
        batching: false,
        preparedStatements: false,
      });
      const ownEvents = new TypeOrmOidcLogoutEventStore(unprepared, {
        batching: false,
        preparedStatements: false,
      });
      await own.init();
      await ownEvents.init();
      await own.save(session('s9', 'zoe', 'sid-9'));
      expect(
        await ownEvents.begin({ claim: { key: 'j9', expiresAt: new Date(Date.now() + HOUR) } }),
      ).toBe('apply');
      const removed = await own.removeByLogoutToken({
        issuer: ISS,
        clientId: CLIENT,
        sid: 'sid-9',
      });
      expect(removed.map((info) => info.clientSessionId)).toEqual(['s9']);
      await ownEvents.complete('j9');
      expect(await prepared(unprepared)).toEqual([]);
    } finally {
      await unprepared.destroy();
    }
  });

  it("a statement the server refuses is a store failure that quotes none of the call's values", async () => {
    const secret = 'sid-that-must-not-be-logged';
    await sessions.save(session('s1', 'alice', secret));
    // PostgreSQL refuses a NUL in a text value.
    const failure = await sessions
      .removeByLogoutToken({ issuer: ISS, clientId: CLIENT, sid: `${secret}\u0000` })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(failure).toBeInstanceOf(OidcSessionRepositoryError);
    const text = JSON.stringify(failure, Object.getOwnPropertyNames(failure));
    const cause = (failure as { cause?: unknown }).cause;
    expect(text).not.toContain(secret);
    expect(JSON.stringify(cause, Object.getOwnPropertyNames(cause ?? {}))).not.toContain(secret);
    // Nothing was removed.
    expect(await sessions.findByClientSessionId('s1')).toBeDefined();
  });
});
