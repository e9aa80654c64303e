import { Injectable, Logger } from '@nestjs/common';
import { OidcLogoutError, OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId } from '../repositories/session-id-hash';
import { sessionIdOf, type SessionRequest } from '../services/request-session';
import {
  clearLoginRecorded,
  recordedLogin,
  type RecordedLogin,
} from '../services/login-in-progress';
import { carrySessionLoginMark } from '../services/session-login-mark';
import { recordEndedByLogout } from '../logout-events/login-tombstones';
import { LOGIN_STATE_KEY_PREFIX } from './oidc-login-state.store';

type RegenerateCallback = (error?: unknown) => void;
type Regenerate = (this: unknown, callback?: RegenerateCallback) => unknown;
type Followed = Regenerate & { [FOLLOWING]?: true };
type FollowedSession = NonNullable<SessionRequest['session']>;

/** Marks a `regenerate` that already follows the session id. */
const FOLLOWING = Symbol('nest-oidc-logout:session-id-follower');

/**
 * Decides what becomes of a login record when its session id changes or the session ends.
 *
 * - The login being made: passport regenerates the session at login (session fixation defence,
 *   passport >= 0.6), right after `LogoutService.recordLogin` recorded the login in the same request.
 *   That record, and only that one, moves to the new id (with the other pending logins of the
 *   session, so that a login started in another tab can still finish).
 * - Any other regenerate (passport's `req.logout()`, which regenerates; an application's own on a
 *   privilege change) and any `destroy`: the record of the old id is removed, and nothing is carried,
 *   so that the new session, logged out, never passes `OidcSessionGuard`, even once the application
 *   writes into it (a notice) and express-session saves it.
 *
 * {@link SessionIdFollower.follow} replaces the request's `req.session.regenerate` and
 * `req.session.destroy` (express-session) by wrappers, as non-enumerable own properties like
 * express-session's own wrappers, so they are never saved with the session. The record is moved or
 * removed before the caller's callback runs. A request that does neither pays two property
 * definitions. Session ids are never logged.
 *
 * Applies to express-session (`req.session.regenerate`). With Fastify, Nest middleware sees the raw
 * request, which has no session: nothing is followed there.
 *
 * @internal
 */
@Injectable()
export class SessionIdFollower {
  private readonly logger = new Logger('OidcLogout');

  constructor(
    private readonly repository: CheckedSessionRepository,
    private readonly events: CheckedLogoutEventStore,
  ) {}

  /**
   * Makes the request's session follow id changes. When the session middleware has not run yet (it is
   * registered after this one), the session is wrapped as soon as it is assigned to the request.
   */
  follow(request: SessionRequest): void {
    const session = request.session;
    if (session) {
      this.wrap(request, session);
      return;
    }
    const own = Object.getOwnPropertyDescriptor(request, 'session');
    if (
      own
        ? own.get !== undefined || own.set !== undefined || !own.configurable
        : 'session' in request
    ) {
      return;
    }
    let current: SessionRequest['session'];
    Object.defineProperty(request, 'session', {
      configurable: true,
      enumerable: true,
      get: () => current,
      set: (next: SessionRequest['session']) => {
        current = next;
        if (next && typeof next === 'object') this.wrap(request, next);
      },
    });
  }

  /**
   * Moves the record of `oldId` to `newId` (both raw session ids, hashed here). When the old record
   * disappears meanwhile (a logout removed it), the new one is removed too; and like `recordLogin`,
   * the move checks the logout tombstones after it wrote the new record (a logout whose removal ran
   * while the record was between the two ids saw neither): a logout is never undone.
   *
   * @throws OidcLogoutError `ERR_SESSION_ENDED` when a logout ended the session meanwhile (nothing is
   *   left under either id); `OidcSessionRepositoryError` when the store fails.
   */
  async move(oldId: string, newId: string, login?: RecordedLogin): Promise<void> {
    const from = hashSessionId(oldId);
    const to = hashSessionId(newId);
    try {
      const record = await this.repository.findByClientSessionId(from);
      if (!record) return;
      if (
        login?.createdAt !== undefined &&
        (record.createdAt.getTime() !== login.createdAt || record.sub !== login.sub)
      ) {
        // Another login of the same session (a second tab's callback) replaced this one's record:
        // it is that login's to carry, never this one's. This login has no record left.
        throw new OidcLogoutError(
          'ERR_SESSION_ENDED',
          'Another login of the same session replaced this one; log in again',
        );
      }
      await this.repository.save({ ...record, clientSessionId: to });
      const removed = await this.repository.removeByClientSessionId(from);
      if (!removed) {
        await this.repository.removeByClientSessionId(to);
        return;
      }
      if (await recordEndedByLogout(this.events, record)) {
        await this.repository.removeByClientSessionId(to);
        throw new OidcLogoutError(
          'ERR_SESSION_ENDED',
          'The OP ended this session while the login was being completed; log in again',
        );
      }
    } catch (error) {
      if (error instanceof OidcLogoutError) throw error;
      throw new OidcSessionRepositoryError(
        'The session repository failed while following a session id change',
        { cause: error },
      );
    }
  }

  /**
   * Removes the record of `sessionId` (raw, hashed here), if any: its session was regenerated by
   * something else than the login being made, or destroyed. Never rejects: the old id is dead either
   * way (the session store dropped it), so a store failure is logged (without ids) and the record
   * expires on its own.
   */
  async forget(sessionId: string): Promise<void> {
    try {
      await this.repository.removeByClientSessionId(hashSessionId(sessionId));
    } catch (error) {
      const code = error instanceof OidcLogoutError ? error.code : 'ERR_REPOSITORY_UNAVAILABLE';
      this.logger.warn({ event: 'oidc_session_record_not_removed', reason: code });
    }
  }

  /** Wraps `regenerate` and `destroy` of `session`, the request's session. */
  private wrap(request: SessionRequest, session: FollowedSession): void {
    replace(session, 'regenerate', (regenerate) =>
      this.followRegenerate(request, session, regenerate),
    );
    replace(session, 'destroy', (destroy) => this.followDestroy(request, destroy));
  }

  /** `regenerate`, then the record of the old id carried (the login's own) or removed. */
  private followRegenerate(
    request: SessionRequest,
    session: FollowedSession,
    regenerate: Regenerate,
  ): Regenerate {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper needs its own `this`
    const follower = this;
    return function (this: unknown, callback?: RegenerateCallback) {
      const oldId = sessionIdOf(request);
      const done: RegenerateCallback = typeof callback === 'function' ? callback : () => undefined;
      return regenerate.call(this, (error?: unknown) =>
        follower.regenerated(request, session, oldId, error, done),
      );
    };
  }

  /**
   * After express-session's `regenerate` of `session` (whose id was `oldId`) answered `error`: follows
   * the new session, then moves the login's own record to the new id or removes the old id's, and
   * only then calls `done`.
   */
  private regenerated(
    request: SessionRequest,
    session: FollowedSession,
    oldId: string | undefined,
    error: unknown,
    done: RegenerateCallback,
  ): void {
    // express-session puts a new session object on the request: follow it too.
    const next = request.session;
    if (next && next !== session) this.wrap(request, next);
    const newId = sessionIdOf(request);
    const login = recordedLogin(request);
    const ownLogin = oldId !== undefined && login?.sessionId === oldId;
    // Once: a later regenerate in the same request (passport's logout) is not the login's.
    if (ownLogin) clearLoginRecorded(request);
    if (error || oldId === undefined || newId === undefined || newId === oldId) {
      // A failed regenerate may leave the old session alive: its record must not stay.
      if (error && oldId !== undefined) {
        void this.forget(oldId).then(() => process.nextTick(done, error));
        return;
      }
      done(error);
      return;
    }
    let step: Promise<void>;
    if (ownLogin) {
      step = this.move(oldId, newId, login).then(() => {
        if (next && next !== session) {
          carryPendingLogins(session, next);
          carrySessionLoginMark(session, next);
        }
      });
    } else {
      step = this.forget(oldId);
    }
    // The callback runs outside the promise, so that an exception it throws is not swallowed.
    step.then(
      () => process.nextTick(done),
      (moveError: unknown) => process.nextTick(done, moveError),
    );
  }

  /** `destroy`, then the record of the destroyed session's id removed. */
  private followDestroy(request: SessionRequest, destroy: Regenerate): Regenerate {
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper needs its own `this`
    const follower = this;
    return function (this: unknown, callback?: RegenerateCallback) {
      const id = sessionIdOf(request);
      const done: RegenerateCallback = typeof callback === 'function' ? callback : () => undefined;
      return destroy.call(this, (error?: unknown) => {
        if (id === undefined) {
          done(error);
          return;
        }
        void follower.forget(id).then(() => process.nextTick(done, error));
      });
    };
  }
}

/** Replaces `session[name]` by `wrapper(original)`, once, as express-session defines its methods. */
function replace(
  session: FollowedSession,
  name: 'regenerate' | 'destroy',
  wrapper: (original: Regenerate) => Regenerate,
): void {
  const original = session[name] as Followed | undefined;
  if (typeof original !== 'function' || original[FOLLOWING]) return;
  const wrapped = wrapper(original);
  Object.defineProperty(wrapped, FOLLOWING, { value: true });
  Object.defineProperty(session, name, {
    configurable: true,
    enumerable: false,
    writable: true,
    value: wrapped,
  });
}

/** The pending logins of the old session (other tabs), copied to the new one at the library's login. */
function carryPendingLogins(from: object, to: object): void {
  for (const [key, value] of Object.entries(from)) {
    if (key.startsWith(LOGIN_STATE_KEY_PREFIX) && Array.isArray(value)) {
      (to as Record<string, unknown>)[key] = value;
    }
  }
}
