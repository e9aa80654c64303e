import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { PendingLogouts } from '../logout-events/pending-logouts';
import type { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId } from '../repositories/session-id-hash';

/**
 * Whether an application session still has a live login record, as `LogoutService` tells it: the
 * store's answer, refused meanwhile for the sessions a logout still pending in this process names.
 *
 * @internal
 */
export class SessionLookup {
  constructor(
    private readonly repository: CheckedSessionRepository,
    /** The logouts this instance keeps because the store could not take them yet. */
    private readonly pending: PendingLogouts,
  ) {}

  /** See `LogoutService[IS_ACTIVE_NOW]`. */
  isActiveNow(clientSessionId: string): boolean | Promise<boolean> {
    // The guard calls it on every request: no async frame, no record built when the repository can
    // tell existence alone. With logouts pending, the record is needed to match them.
    if (this.pending.size !== 0) return this.find(clientSessionId).then(isDefined);
    let exists: boolean | Promise<boolean>;
    try {
      exists = this.repository.existsByClientSessionId(hashSessionId(clientSessionId));
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- as thrown, like an async function
      return Promise.reject(error);
    }
    if (typeof exists === 'boolean') return exists;
    return exists.then((found) => {
      if (this.pending.size === 0) return found;
      // A logout was deferred while the store was answering: decide as find does.
      if (!found) {
        this.pending.wake();
        return false;
      }
      return this.find(clientSessionId).then(isDefined);
    });
  }

  /** See `LogoutService.findSession`. */
  async find(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const info = await this.repository.findByClientSessionId(hashSessionId(clientSessionId));
    if (this.pending.size === 0) return info;
    // The store answers again: apply what is pending now rather than at the next retry.
    this.pending.wake();
    return info && this.pending.matches(info) ? undefined : info;
  }
}

const isDefined = (value: unknown): boolean => value !== undefined;
