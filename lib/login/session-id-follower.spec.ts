import { beforeEach, describe, expect, it } from 'vitest';
import { InMemoryOidcLogoutEventStore } from '../logout-events/in-memory-oidc-logout-event.store';
import {
  inMemoryEvents,
  logoutEventCalls,
  type LogoutEventCalls,
} from '../../test/repository/logout-event-calls';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { InMemoryOidcSessionRepository } from '../repositories/in-memory-oidc-session.repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { sidTombstoneKey, subTombstoneKey } from '../logout-events/logout-event-keys';
import type { SessionRequest } from '../services/request-session';
import { markLoginRecorded } from '../services/login-in-progress';
import { SessionIdFollower } from './session-id-follower';
import { sessionHadLogin } from '../services/session-login-mark';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';

/** express-session's shape: `regenerate` destroys, then puts a new id and a new session object on req. */
class FakeSession {
  [key: string]: unknown;
  declare private readonly req: FakeRequest;
  constructor(req: FakeRequest) {
    Object.defineProperty(this, 'req', { value: req }); // not enumerable, as in express-session
    this.cookie = { maxAge: 60_000 };
  }
  regenerate(callback: (error?: unknown) => void): this {
    const req = this.req;
    setImmediate(() => {
      if (req.failRegenerate) return callback(new Error('store down'));
      req.sessionID = `sid-${++req.generation}`;
      req.session = new FakeSession(req);
      callback();
    });
    return this;
  }
  destroy(callback: (error?: unknown) => void): this {
    const req = this.req;
    setImmediate(() => {
      delete req.session;
      callback();
    });
    return this;
  }
}

interface FakeRequest extends SessionRequest {
  sessionID?: string;
  session?: FakeSession;
  generation: number;
  failRegenerate?: boolean;
}

function request(withSession = true): FakeRequest {
  const req: FakeRequest = { generation: 0 };
  if (withSession) {
    req.sessionID = 'sid-0';
    req.session = new FakeSession(req);
  }
  return req;
}

function regenerate(req: FakeRequest): Promise<void> {
  return new Promise((resolve, reject) =>
    req.session!.regenerate((error) =>
      error ? reject(error instanceof Error ? error : new Error('regenerate failed')) : resolve(),
    ),
  );
}

const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
/** An ID token as recorded (its signature was checked when it was recorded, not here). */
const ID_TOKEN = `${b64({ alg: 'ES256' })}.${b64({ sid: 'op-session', sub: 'alice', iat: Math.floor(Date.now() / 1000) - 5 })}.c2ln`;

function record(sessionId: string): OidcSessionInfo {
  return {
    clientSessionId: hashSessionId(sessionId),
    registrationId: 'main',
    issuer: 'https://op.example',
    clientId: 'app',
    sid: hashSid('op-session'),
    sub: 'alice',
    idToken: ID_TOKEN,
    createdAt: new Date(),
    expiresAt: new Date(Date.now() + 60_000),
  };
}

describe('SessionIdFollower', () => {
  let repository: InMemoryOidcSessionRepository;
  let events: LogoutEventCalls;
  let follower: SessionIdFollower;

  /** A follower on fresh in-memory stores. */
  function fresh(): void {
    repository = new InMemoryOidcSessionRepository();
    const store = new InMemoryOidcLogoutEventStore();
    events = logoutEventCalls(store);
    follower = new SessionIdFollower(
      new CheckedSessionRepository(repository, { timeoutMs: 1_000 }),
      inMemoryEvents(store),
    );
  }

  beforeEach(fresh);

  const find = (id: string) => repository.findByClientSessionId(hashSessionId(id));

  it('moves the record of the login made in this request to the new id before the regenerate callback, once: a later regenerate forgets it', async () => {
    const req = request();
    await repository.save(record('sid-0'));
    markLoginRecorded(req, 'sid-0');
    follower.follow(req);

    await regenerate(req);
    expect(req.sessionID).toBe('sid-1');
    expect(await find('sid-0')).toBeUndefined();
    expect(await find('sid-1')).toMatchObject({ sub: 'alice', sid: hashSid('op-session') });
    // The session's mark of a login (the guard's wording) goes with the record.
    expect(sessionHadLogin(req)).toBe(true);

    // The new session object is followed too, but the login's mark was used: a second regenerate in
    // the same request (passport's logout in a validate hook, the app's own) is not the login's.
    await regenerate(req);
    expect(await find('sid-1')).toBeUndefined();
    expect(await find('sid-2')).toBeUndefined();
    expect(sessionHadLogin(req)).toBe(false);
  });

  it('is invisible in the session data and wraps a session once', () => {
    const req = request();
    follower.follow(req);
    const wrapped = req.session!.regenerate;
    follower.follow(req);
    expect(req.session!.regenerate).toBe(wrapped);
    expect(Object.keys(req.session!)).not.toContain('regenerate');
    expect(JSON.stringify(req.session)).not.toContain('regenerate');
  });

  it('does nothing for a session without a record', async () => {
    const req = request();
    follower.follow(req);
    await regenerate(req);
    expect(await find('sid-1')).toBeUndefined();
  });

  it('follows a session created after it ran (session middleware registered later)', async () => {
    const req = request(false);
    follower.follow(req);
    expect(req.session).toBeUndefined();
    req.sessionID = 'sid-0';
    req.session = new FakeSession(req);
    await repository.save(record('sid-0'));
    markLoginRecorded(req, 'sid-0');
    await regenerate(req);
    expect(await find('sid-1')).toMatchObject({ sub: 'alice' });
    delete req.session;
    expect(req.session).toBeUndefined();
  });

  it('passes a regenerate failure through, moves nothing and forgets the old record (its session may live on)', async () => {
    for (const ownLogin of [false, true]) {
      const req = request();
      await repository.save(record('sid-0'));
      if (ownLogin) markLoginRecorded(req, 'sid-0');
      follower.follow(req);
      req.failRegenerate = true;
      await expect(regenerate(req)).rejects.toThrow('store down');
      expect(await find('sid-0')).toBeUndefined();
      expect(await find('sid-1')).toBeUndefined();
    }
  });

  it("carries only the record its own login wrote: a concurrent login's record of the same session stays for that login", async () => {
    const req = request();
    const mine = record('sid-0');
    // Another tab's callback recorded its own login for the same (anonymous) session meanwhile.
    const theirs = {
      ...record('sid-0'),
      sub: 'bob',
      createdAt: new Date(mine.createdAt.getTime() + 1),
    };
    await repository.save(theirs);
    markLoginRecorded(req, 'sid-0', mine);
    follower.follow(req);
    await expect(regenerate(req)).rejects.toMatchObject({ code: 'ERR_SESSION_ENDED' });
    expect(await find('sid-1')).toBeUndefined();
    expect(await find('sid-0')).toMatchObject({ sub: 'bob' });
  });

  it('a logout whose removal ran while the record moved is not undone: the move checks the tombstones after it wrote', async () => {
    for (const tombstone of [
      sidTombstoneKey('https://op.example', 'app', 'op-session'),
      subTombstoneKey('https://op.example', 'app', 'alice'),
    ]) {
      const req = request();
      await repository.save(record('sid-0'));
      // The logout wrote its tombstone, and its removal found the record under neither id.
      await events.saveLogoutTombstone(
        tombstone,
        Math.floor(Date.now() / 1000),
        new Date(Date.now() + 60_000),
      );
      markLoginRecorded(req, 'sid-0');
      follower.follow(req);
      await expect(regenerate(req)).rejects.toMatchObject({ code: 'ERR_SESSION_ENDED' });
      expect(await find('sid-0')).toBeUndefined();
      expect(await find('sid-1')).toBeUndefined();
      fresh();
    }
  });

  it('reports a store failure to the regenerate callback', async () => {
    const req = request();
    await repository.save(record('sid-0'));
    repository.findByClientSessionId = () => Promise.reject(new Error('db down'));
    markLoginRecorded(req, 'sid-0');
    follower.follow(req);
    await expect(regenerate(req)).rejects.toBeInstanceOf(OidcSessionRepositoryError);
  });

  it('carries nothing across any other regenerate (passport logout, the app): the old record is removed', async () => {
    const req = request();
    await repository.save(record('sid-0'));
    follower.follow(req);
    await regenerate(req);
    expect(await find('sid-0')).toBeUndefined();
    expect(await find('sid-1')).toBeUndefined();
  });

  it('carries nothing for a login recorded for another session id', async () => {
    const req = request();
    await repository.save(record('sid-0'));
    markLoginRecorded(req, 'another');
    follower.follow(req);
    await regenerate(req);
    expect(await find('sid-1')).toBeUndefined();
  });

  it('carries the pending logins of other tabs across the login regenerate only', async () => {
    const login = request();
    login.session!['oidc-login:oidc:main'] = [{ handle: 'h' }];
    login.session!.other = 'not carried';
    await repository.save(record('sid-0'));
    markLoginRecorded(login, 'sid-0');
    follower.follow(login);
    await regenerate(login);
    expect(login.session!['oidc-login:oidc:main']).toEqual([{ handle: 'h' }]);
    expect(login.session!.other).toBeUndefined();

    const logout = request();
    logout.session!['oidc-login:oidc:main'] = [{ handle: 'h' }];
    follower.follow(logout);
    await regenerate(logout);
    expect(logout.session!['oidc-login:oidc:main']).toBeUndefined();
  });

  it('a regenerate whose removal fails still succeeds (the old id is dead anyway)', async () => {
    const req = request();
    repository.removeByClientSessionId = () => Promise.reject(new Error('db down'));
    follower.follow(req);
    await expect(regenerate(req)).resolves.toBeUndefined();
  });

  it('destroy removes the record before its callback', async () => {
    const req = request();
    await repository.save(record('sid-0'));
    follower.follow(req);
    await new Promise<void>((resolve) => req.session!.destroy(() => resolve()));
    expect(await find('sid-0')).toBeUndefined();
  });

  it('never undoes a logout that removed the old record during the move', async () => {
    await repository.save(record('old'));
    const save = repository.save.bind(repository);
    repository.save = async (info) => {
      await save(info);
      // A back-channel logout lands between the save of the new record and the removal of the old.
      await repository.removeByClientSessionId(hashSessionId('old'));
    };
    await follower.move('old', 'new');
    expect(await find('old')).toBeUndefined();
    expect(await find('new')).toBeUndefined();
  });
});
