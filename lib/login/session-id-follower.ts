import { Injectable } from '@nestjs/common';
import { OidcLogoutError, OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId } from '../repositories/session-id-hash';
import { sessionIdOf, type SessionRequest } from '../services/request-session';

type RegenerateCallback = (error?: unknown) => void;
type Regenerate = (this: unknown, callback?: RegenerateCallback) => unknown;
type FollowedSession = NonNullable<SessionRequest['session']>;

/** Marks a `regenerate` that already follows the session id. */
const FOLLOWING = Symbol('nest-oidc-logout:session-id-follower');

/**
 * Keeps a login record with its session when the session id changes: passport regenerates the
 * session at login (session fixation defence, passport >= 0.6), and applications regenerate it on
 * privilege changes. Spring Security follows such changes too (`SessionFixationProtectionEvent`).
 *
 * {@link SessionIdFollower.follow} replaces the request's `req.session.regenerate` (express-session) by
 * a wrapper, as a non-enumerable own property like express-session's own wrappers, so it is never saved
 * with the session. When the session id has changed after the original `regenerate`, the record is
 * moved from the old (hashed) id to the new one before the caller's callback runs: the caller's next
 * response already carries a session the guard accepts. A request that does not regenerate pays one
 * property definition. Session ids are never logged.
 *
 * Applies to express-session (`req.session.regenerate`). With Fastify, Nest middleware sees the raw
 * request, which has no session: nothing is followed there.
 *
 * @internal
 */
@Injectable()
export class SessionIdFollower {
  constructor(private readonly repository: CheckedSessionRepository) {}

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
   * disappears meanwhile (a logout removed it), the new one is removed too: a logout is never undone.
   *
   * @throws OidcSessionRepositoryError when the store fails.
   */
  async move(oldId: string, newId: string): Promise<void> {
    const from = hashSessionId(oldId);
    const to = hashSessionId(newId);
    try {
      const record = await this.repository.findByClientSessionId(from);
      if (!record) return;
      await this.repository.save({ ...record, clientSessionId: to });
      const removed = await this.repository.removeByClientSessionId(from);
      if (!removed) await this.repository.removeByClientSessionId(to);
    } catch (error) {
      if (error instanceof OidcLogoutError) throw error;
      throw new OidcSessionRepositoryError(
        'The session repository failed while following a session id change',
        { cause: error },
      );
    }
  }

  private wrap(request: SessionRequest, session: FollowedSession): void {
    const regenerate = session.regenerate as (Regenerate & { [FOLLOWING]?: true }) | undefined;
    if (typeof regenerate !== 'function' || regenerate[FOLLOWING]) return;
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the wrapper needs its own `this`
    const follower = this;
    const following: Regenerate = function (this: unknown, callback?: RegenerateCallback) {
      const oldId = sessionIdOf(request);
      const done: RegenerateCallback = typeof callback === 'function' ? callback : () => undefined;
      return regenerate.call(this, (error?: unknown) => {
        // express-session puts a new session object on the request: follow it too.
        const next = request.session;
        if (next && next !== session) follower.wrap(request, next);
        const newId = sessionIdOf(request);
        if (error || oldId === undefined || newId === undefined || newId === oldId) {
          done(error);
          return;
        }
        // The callback runs outside the promise, so that an exception it throws is not swallowed.
        follower.move(oldId, newId).then(
          () => process.nextTick(done),
          (moveError: unknown) => process.nextTick(done, moveError),
        );
      });
    };
    Object.defineProperty(following, FOLLOWING, { value: true });
    Object.defineProperty(session, 'regenerate', {
      configurable: true,
      enumerable: false,
      writable: true,
      value: following,
    });
  }
}
