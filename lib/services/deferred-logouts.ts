import { PendingLogouts } from '../logout-events/pending-logouts';
import type { PendingLogoutFields, PendingOperation } from '../logout-events/pending-operation';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import type { CheckedSessionRepository } from '../repositories/checked-session-repository';
import type { LoginRecordingHooks } from './login-recording';
import type { AppliedLogout } from './logout-application';

/** Applies a kept logout again, as a back-channel logout completed before it resolves. @internal */
export type ReapplyLogout = (
  registration: ResolvedClientRegistration,
  logout: PendingLogoutFields,
) => Promise<unknown>;

/**
 * What `LogoutService` keeps for later: the verified logouts (and login records to forget) the store
 * could not take yet, in the {@link PendingLogouts} queue, for as long as the login records they may
 * end can live. Login recording reaches it through {@link LoginRecordingHooks}.
 *
 * @internal
 */
export class DeferredLogouts implements LoginRecordingHooks {
  /** Verified logouts (and login records to forget) the store could not take yet. */
  readonly queue: PendingLogouts;

  /**
   * The longest lifetime of a login record this instance has written (`sessionTtlSeconds`, or a
   * longer session cookie's `maxAge`): how long a pending logout is kept before it is dropped.
   */
  private longestRecordTtlMs: number;

  constructor(
    options: ResolvedOidcLogoutOptions,
    private readonly repository: CheckedSessionRepository,
    private readonly reapply: ReapplyLogout,
  ) {
    this.longestRecordTtlMs = options.sessionTtlSeconds * 1000;
    this.queue = new PendingLogouts({
      apply: (operation) => this.applyPending(operation),
      journal: options.pendingLogoutJournal,
      registrations: options.clients,
    });
  }

  /** See `LogoutService.deferLogout`. */
  defer(registration: ResolvedClientRegistration, logout: AppliedLogout): boolean {
    if (logout.jti === undefined) return false;
    const nowMs = Date.now();
    // Until every record it can end has expired: the longest lifetime a login record written here
    // can have (a session cookie may outlive sessionTtlSeconds); dropped sooner, it would be lost.
    const keepUntil = nowMs + this.longestRecordTtlMs;
    return this.queue.add(
      `logout\u0000${registration.registrationId}\u0000${logout.jti}`,
      {
        kind: 'logout',
        registration,
        logout: {
          sid: logout.sid,
          sub: logout.sub,
          jti: logout.jti,
          jtiExpiresAt: logout.jtiExpiresAt,
          // The tombstone keeps the time the OP ended the session, not the time it is applied.
          issuedAt: logout.issuedAt ?? Math.floor(nowMs / 1000),
          revokeOfflineAccess: logout.revokeOfflineAccess,
          tellIfReplayed: logout.tellIfReplayed,
        },
      },
      keepUntil,
    );
  }

  /** Applies one pending operation; rejects while the store cannot take it. */
  async applyPending(operation: PendingOperation): Promise<void> {
    if (operation.kind === 'logout') {
      await this.reapply(operation.registration, operation.logout);
      return;
    }
    const { clientSessionId, createdAt } = operation;
    const current = await this.repository.findByClientSessionId(clientSessionId);
    // Gone already, or replaced by a later login of the same session: nothing to forget.
    if (current?.createdAt.getTime() !== createdAt) return;
    await this.repository.removeByClientSessionId(clientSessionId);
  }

  /** Keeps an operation in the queue, under `key`, until `keepUntil` (epoch ms). */
  keepPending(key: string, operation: PendingOperation, keepUntil: number): boolean {
    return this.queue.add(key, operation, keepUntil);
  }

  /** A login record was written that lives `ttlMs`: pending logouts are kept at least as long. */
  recordWritten(ttlMs: number): void {
    if (ttlMs > this.longestRecordTtlMs) this.longestRecordTtlMs = ttlMs;
  }
}
