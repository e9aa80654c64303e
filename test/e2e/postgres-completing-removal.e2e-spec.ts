/**
 * On PostgreSQL, with the library's two stores on one DataSource, a back-channel logout costs two
 * statements: the claim and tombstone (committed first, so that a login recorded meanwhile finds
 * the tombstone), then the removal of the sessions, which marks the claim applied in the same
 * statement. Anywhere else (another DataSource, a store of the app's, a subclass that overrides a
 * method) the claim is completed by a statement of its own, as before.
 */
import { randomUUID } from 'node:crypto';
import type { DataSource } from 'typeorm';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { InMemoryOidcLogoutEventStore, type OidcRevocationEvent } from '../../lib';
import type { OidcLogoutCriteria } from '../../lib/interfaces/oidc-session-info.interface';
import {
  COMPLETING_REMOVAL,
  COMPLETION_TARGET,
  completingRemoval,
} from '../../lib/repositories/joint-completion';
import { TypeOrmOidcLogoutEventStore } from '../../lib/logout-events/typeorm/typeorm-oidc-logout-event.store';
import { TypeOrmOidcSessionRepository } from '../../lib/repositories/typeorm/typeorm-oidc-session.repository';
import { hashSessionId } from '../../lib/repositories/session-id-hash';
import {
  announceDatabase,
  createTestDataSource,
  destroyTestDataSource,
} from '../fixtures/databases';
import { startFakeOp, type FakeOp } from '../fixtures/fake-op';
import { createTestKeySet, type TestKeySet } from '../fixtures/keys';
import { loginAt, postLogoutToken, privateStatus } from '../fixtures/session-client';
import { startTestApp, type TestApp } from '../fixtures/test-app';
import { signIdToken, signLogoutToken } from '../fixtures/tokens';
import { KEPT_ANSWER } from '../fixtures/back-channel-answers';
import { loseAnswers } from '../fixtures/lost-answers';
import { PENDING_LOGOUT_MAX_RETRY_MS } from '../../lib/logout-events/pending-logouts.options';

const enabled = announceDatabase('postgres', 'PostgreSQL completing-removal e2e');
const ISS = 'https://op.example.com/realms/main';
const CLIENT = 'app-a';
const HOUR = 3_600_000;

/** The kinds of the claim rows in the events table. */
async function claimKinds(dataSource: DataSource): Promise<string[]> {
  const rows = await dataSource.query<{ kind: string }[]>(
    `SELECT kind FROM oidc_logout_events WHERE kind <> 'tombstone' ORDER BY kind`,
  );
  return rows.map((row) => row.kind);
}

/** Statements (one query runner each) the stores run on `dataSource` from now on. */
function countStatements(dataSource: DataSource): () => number {
  const spy = vi.spyOn(dataSource, 'createQueryRunner');
  return () => spy.mock.calls.length;
}

describe.skipIf(!enabled)('completing removal: the stores on one PostgreSQL DataSource', () => {
  let dataSource: DataSource;
  let sessions: TypeOrmOidcSessionRepository;
  let events: TypeOrmOidcLogoutEventStore;

  beforeEach(async () => {
    dataSource = await createTestDataSource('postgres', { migrations: true });
    sessions = new TypeOrmOidcSessionRepository(dataSource);
    events = new TypeOrmOidcLogoutEventStore(dataSource);
    await sessions.init();
    await events.init();
  });

  afterEach(async () => {
    vi.restoreAllMocks();
    await destroyTestDataSource(dataSource);
  });

  const save = (id: string, sid: string) =>
    sessions.save({
      clientSessionId: id,
      registrationId: 'main',
      issuer: ISS,
      clientId: CLIENT,
      sub: `sub-of-${id}`,
      sid,
      idToken: `id-token-of-${id}`,
      expiresAt: new Date(Date.now() + HOUR),
      createdAt: new Date(),
    });
  const claim = (key: string) =>
    events.begin({ claim: { key, expiresAt: new Date(Date.now() + HOUR) } });
  const bySid = (sid: string): OidcLogoutCriteria => ({ issuer: ISS, clientId: CLIENT, sid });

  it('removes the sessions and marks the claim applied in one statement', async () => {
    await save('s1', 'sid-1');
    await save('s2', 'sid-2');
    expect(await claim('j1')).toBe('apply');
    const remove = completingRemoval(sessions, events);
    expect(remove).toBeTypeOf('function');
    const statements = countStatements(dataSource);
    const removed = await remove!(bySid('sid-1'), 'j1');
    expect(statements()).toBe(1);
    expect(removed.map((info) => info.clientSessionId)).toEqual(['s1']);
    expect(await claimKinds(dataSource)).toEqual(['applied']);
    expect(await claim('j1')).toBe('replay');
    expect(await sessions.findByClientSessionId('s2')).toBeDefined();
  });

  it('concurrent removals share statements, and each claim is applied', async () => {
    const ids = Array.from({ length: 8 }, (_, i) => i);
    for (const i of ids) {
      await save(`s${i}`, `sid-${i}`);
      expect(await claim(`j${i}`)).toBe('apply');
    }
    const remove = completingRemoval(sessions, events)!;
    const statements = countStatements(dataSource);
    const removed = await Promise.all(ids.map((i) => remove(bySid(`sid-${i}`), `j${i}`)));
    expect(statements()).toBeLessThan(ids.length);
    expect(removed.map((infos) => infos.map((info) => info.clientSessionId))).toEqual(
      ids.map((i) => [`s${i}`]),
    );
    expect(await claimKinds(dataSource)).toEqual(ids.map(() => 'applied'));
  });

  it('a removal the database refuses leaves the claim claimed: the next delivery applies it', async () => {
    await save('s1', 'sid-1');
    expect(await claim('j1')).toBe('apply');
    const remove = completingRemoval(sessions, events)!;
    // PostgreSQL refuses a NUL in a text value: the statement fails whole.
    await expect(remove(bySid('sid-1\u0000'), 'j1')).rejects.toThrow(/could not remove/);
    expect(await claimKinds(dataSource)).toEqual(['claim']);
    expect(await claim('j1')).toBe('apply');
    expect(await sessions.findByClientSessionId('s1')).toBeDefined();
  });

  it('a database that refuses the shape (a DO ALSO rule on the events table): that removal fails, later ones run apart', async () => {
    await save('s1', 'sid-1');
    expect(await claim('j1')).toBe('apply');
    // An audit rule added meanwhile: a data-modifying WITH cannot run it (0A000).
    await dataSource.query(
      'CREATE RULE oidc_test_audit AS ON UPDATE TO oidc_logout_events DO ALSO NOTIFY oidc_test_audit',
    );
    const remove = completingRemoval(sessions, events)!;
    await expect(remove(bySid('sid-1'), 'j1')).rejects.toThrow(/could not remove/);
    // Nothing happened: the session is there, the claim still claimed.
    expect(await sessions.findByClientSessionId('s1')).toBeDefined();
    expect(await claimKinds(dataSource)).toEqual(['claim']);
    // Not offered any more: the removal and the completion run apart, and both go through.
    expect(completingRemoval(sessions, events)).toBeUndefined();
    expect(
      (await sessions.removeByLogoutToken(bySid('sid-1'))).map((info) => info.clientSessionId),
    ).toEqual(['s1']);
    await events.complete('j1');
    expect(await claimKinds(dataSource)).toEqual(['applied']);
  });

  it('is not offered across DataSources, nor when a subclass overrides removeByLogoutToken or complete', async () => {
    // A second DataSource on the same tables (left as they are: `init` initializes it).
    const other = await createTestDataSource('postgres', { initialize: false });
    try {
      const elsewhere = new TypeOrmOidcLogoutEventStore(other);
      await elsewhere.init();
      expect(elsewhere[COMPLETION_TARGET]()).toBeDefined();
      expect(completingRemoval(sessions, elsewhere)).toBeUndefined();
    } finally {
      await other.destroy();
    }
    class OwnRemoval extends TypeOrmOidcSessionRepository {
      override removeByLogoutToken(criteria: OidcLogoutCriteria) {
        return super.removeByLogoutToken(criteria);
      }
    }
    class OwnCompletion extends TypeOrmOidcLogoutEventStore {
      override complete(key: string) {
        return super.complete(key);
      }
    }
    const target = events[COMPLETION_TARGET]()!;
    expect(new OwnRemoval(dataSource)[COMPLETING_REMOVAL](target)).toBeUndefined();
    expect(new OwnCompletion(dataSource)[COMPLETION_TARGET]()).toBeUndefined();
    expect(sessions[COMPLETING_REMOVAL](target)).toBeTypeOf('function');
    expect(completingRemoval(sessions, new InMemoryOidcLogoutEventStore())).toBeUndefined();
  });
});

describe.skipIf(!enabled)('a back-channel logout on PostgreSQL, over HTTP', () => {
  let keys: TestKeySet;
  let op: FakeOp;

  beforeAll(async () => {
    keys = await createTestKeySet();
    op = await startFakeOp({ keys });
  });
  afterAll(async () => op?.close());

  async function startApp(dataSource: DataSource, logoutEventStore?: InMemoryOidcLogoutEventStore) {
    const app = await startTestApp({
      oidc: {
        clients: [{ registrationId: 'main', issuer: op.issuer, clientId: 'app' }],
        dataSource,
        ...(logoutEventStore ? { logoutEventStore } : {}),
      },
    });
    const told: OidcRevocationEvent[] = [];
    app.logoutService.onRevocation((event) => {
      told.push(event);
    });
    return { app, told };
  }

  /** A user logged in at `app` (the one a logout will name) and another user. */
  async function twoUsers(app: TestApp) {
    const sub = `user-${randomUUID()}`;
    const sid = `sid-${randomUUID()}`;
    const login = (user: string, opSession: string) =>
      signIdToken(keys, { iss: op.issuer, aud: 'app', sub: user, sid: opSession }).then((token) =>
        loginAt(app.url, token),
      );
    return { sub, sid, cookie: await login(sub, sid), other: await login(`o-${sub}`, `o-${sid}`) };
  }

  async function loggedOutOnce(app: TestApp, dataSource: DataSource) {
    const { sub, sid, cookie, other } = await twoUsers(app);
    const token = await signLogoutToken(keys, {
      issuer: op.issuer,
      sub,
      sid,
      claims: { aud: 'app' },
    });
    const statements = countStatements(dataSource);
    const answer = await postLogoutToken(app.url, 'main', token);
    // Whatever runs after the answer has run by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    return { answer, statements: statements(), cookie, other, token };
  }

  it('costs two statements, the claim applied with the removal; a replay is acknowledged and changes nothing', async () => {
    const dataSource = await createTestDataSource('postgres');
    const { app, told } = await startApp(dataSource);
    try {
      const { answer, statements, cookie, other, token } = await loggedOutOnce(app, dataSource);
      expect(answer.status).toBe(200);
      expect(statements).toBe(2);
      expect(await claimKinds(dataSource)).toEqual(['applied']);
      expect(await privateStatus(app.url, cookie)).toBe(401);
      expect(await privateStatus(app.url, other)).toBe(200);
      expect(told.map((event) => event.sessions.length)).toEqual([1]);
      const replay = await postLogoutToken(app.url, 'main', token);
      expect(replay.status).toBe(200);
      expect(told).toHaveLength(1);
      expect(await privateStatus(app.url, other)).toBe(200);
      expect(
        await dataSource.query(
          `SELECT count(*)::int AS n FROM oidc_sessions WHERE client_session_id = $1`,
          [hashSessionId('never-there')],
        ),
      ).toEqual([{ n: 0 }]);
    } finally {
      await app.close();
      await destroyTestDataSource(dataSource);
    }
  });

  it('a completing removal that committed but whose answer was lost: kept, and its retry (a replay) tells the listeners', async () => {
    const dataSource = await createTestDataSource('postgres');
    const { app, told } = await startApp(dataSource);
    try {
      const { sub, sid, cookie, other } = await twoUsers(app);
      const lost = loseAnswers(
        dataSource,
        (sql) => sql.includes('DELETE') && sql.includes("'applied'"),
        1,
      );
      const token = await signLogoutToken(keys, {
        issuer: op.issuer,
        sub,
        sid,
        claims: { aud: 'app' },
      });
      const answer = await postLogoutToken(app.url, 'main', token);
      expect(lost()).toBe(1);
      expect(answer.status).toBe(400);
      expect(answer.body).toEqual(KEPT_ANSWER);
      // It did commit: the session is gone and the claim applied.
      expect(await privateStatus(app.url, cookie)).toBe(401);
      expect(await claimKinds(dataSource)).toEqual(['applied']);
      // The retry finds a replay and tells the listeners (of no sessions: which went is unknown).
      const started = performance.now();
      while (
        told.length === 0 &&
        performance.now() - started < PENDING_LOGOUT_MAX_RETRY_MS + 3_000
      ) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(told.map((event) => [event.channel, event.sub, event.sessions.length])).toEqual([
        ['back-channel', sub, 0],
      ]);
      expect(app.logoutService.pendingLogouts.count).toBe(0);
      expect(await privateStatus(app.url, other)).toBe(200);
    } finally {
      await app.close();
      await destroyTestDataSource(dataSource);
    }
  });

  it('with an event store of the app, the claim is completed by that store, after the answer', async () => {
    const dataSource = await createTestDataSource('postgres');
    const eventStore = new InMemoryOidcLogoutEventStore();
    const complete = vi.spyOn(eventStore, 'complete');
    const { app, told } = await startApp(dataSource, eventStore);
    try {
      const { answer, statements, cookie, other } = await loggedOutOnce(app, dataSource);
      expect(answer.status).toBe(200);
      expect(statements).toBe(1);
      expect(complete).toHaveBeenCalledTimes(1);
      expect(await privateStatus(app.url, cookie)).toBe(401);
      expect(await privateStatus(app.url, other)).toBe(200);
      expect(told).toHaveLength(1);
    } finally {
      await app.close();
      await destroyTestDataSource(dataSource);
    }
  });
});
