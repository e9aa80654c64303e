import { OidcLogoutError } from '../errors/oidc-logout.error';
import type {
  OidcLogoutChannel,
  OidcRevocationEvent,
} from '../interfaces/oidc-revocation-event.interface';
import type {
  OidcLogoutCriteria,
  OidcSessionInfo,
} from '../interfaces/oidc-session-info.interface';
import type { RevokeTarget } from '../interfaces/revoke-target.interface';
import type { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import {
  logoutTokenKey,
  sidTombstoneKey,
  subTombstoneKey,
} from '../logout-events/logout-event-keys';
import type { OidcLogoutEventBegin } from '../logout-events/oidc-logout-event.store';
import { LOGOUT_TOMBSTONE_TTL_SECONDS } from '../oidc-logout.constants';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { CheckedSessionRepository } from '../repositories/checked-session-repository';
import {
  type ClaimCompletion,
  completingRemoval,
  type WholeLogout,
  wholeLogout,
} from '../repositories/joint-completion';
import { hashSid } from '../repositories/session-id-hash';
import { registrationsForTarget } from './client-registrations';
import { asRepositoryError } from './repository-error';
import type { RevocationListeners, RevocationSummary } from './revocation-listeners';

/** A verified logout, as `LogoutService.applyLogout` applies it. @internal */
export interface AppliedLogout {
  channel: OidcLogoutChannel;
  sid?: string;
  sub?: string;
  /** The logout token's `jti`, for replay detection, and until when it must be remembered. */
  jti?: string;
  jtiExpiresAt?: Date;
  /**
   * Remember the logout for logins recorded late (default `true`). The front channel passes `false`:
   * its request comes from the user's own browser after the login completed, and a tombstone per
   * unauthenticated GET would let anyone fill the store.
   */
  tombstone?: boolean;
  /** When the OP issued the logout (`iat`, seconds); default now. */
  issuedAt?: number;
  revokeOfflineAccess?: boolean;
  /**
   * Set by `applyLogout` when the removal that also completes the claim failed: it may have
   * committed, claim included, without the listeners hearing of it. A later attempt answered
   * "replay" tells them then (of no sessions: which ones went is not known).
   */
  tellIfReplayed?: boolean;
}

/** When `applyLogout` marks a replay claim applied (see `LogoutService.applyLogout`). @internal */
export interface ApplyLogoutOptions {
  completion?: 'now' | 'after-answer';
}

/** What `applyLogout` did: a replay (nothing done again), or the sessions removed. @internal */
export interface AppliedLogoutResult {
  replayed: boolean;
  sessions: OidcSessionInfo[];
}

/**
 * The revocation flow of `LogoutService`: applies a verified logout of one registration (its replay
 * claim and tombstone in the event store, the removal of the sessions it names, the completion of
 * the claim, in the removal's own statement when the two stores offer it) and tells the
 * `onRevocation` listeners; `revoke` applies one for the app.
 *
 * @internal
 */
export class LogoutApplication {
  constructor(
    private readonly clients: readonly ResolvedClientRegistration[],
    private readonly repository: CheckedSessionRepository,
    private readonly events: CheckedLogoutEventStore,
    private readonly listeners: RevocationListeners,
    /** Keeps a logout whose claim could not be completed, to apply it again (`deferLogout`). */
    private readonly defer: (
      registration: ResolvedClientRegistration,
      logout: AppliedLogout,
    ) => void,
  ) {}

  /** See `LogoutService.revoke`. */
  async revoke(target: RevokeTarget): Promise<OidcSessionInfo[]> {
    if (!target.sid && !target.sub) {
      throw new OidcLogoutError('ERR_INVALID_REQUEST', 'revoke needs a sid or a sub');
    }
    const removed: OidcSessionInfo[] = [];
    for (const registration of registrationsForTarget(this.clients, target)) {
      const result = await this.apply(registration, {
        channel: 'api',
        sid: target.sid,
        sub: target.sub,
      });
      removed.push(...result.sessions);
    }
    return removed;
  }

  /** See `LogoutService.applyLogout`. */
  async apply(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    { completion = 'after-answer' }: ApplyLogoutOptions = {},
  ): Promise<AppliedLogoutResult> {
    const { issuer, clientId } = registration;
    const claimKey =
      logout.jti === undefined ? undefined : logoutTokenKey(issuer, clientId, logout.jti);
    let sessions: OidcSessionInfo[];
    let completing: ClaimCompletion | undefined;
    let whole: WholeLogout | undefined;
    try {
      const event = logoutEvent(registration, logout, claimKey, Date.now());
      const criteria = criteriaOf(registration, logout);
      // The library's stores on one Redis apply it whole, in one script: nothing left to complete.
      whole = wholeLogout(this.repository.raw, this.events.raw);
      if (whole) {
        const outcome = await this.repository.applyWhole(whole, event, criteria);
        if (outcome === 'replay') return await this.replayed(registration, logout);
        sessions = outcome;
      } else {
        // 'replay' only for a claim already applied: anything else (new, or claimed by an
        // application that failed or is under way) is applied (again). The tombstone goes with
        // the claim, before the removal: a login recorded meanwhile then either is removed below
        // or finds the tombstone (recordLogin checks after it saves).
        if ((event.claim ?? event.tombstone) && (await this.events.begin(event)) === 'replay') {
          return await this.replayed(registration, logout);
        }
        // The library's stores on one PostgreSQL database mark the claim applied in the removal's
        // own statement: nothing is left to complete.
        completing = claimKey === undefined ? undefined : this.completingRemoval(claimKey);
        sessions = await this.repository.removeByLogoutToken(criteria, completing);
      }
    } catch (error) {
      // Not applied: the claim stays claimed, so that a retry or the OP's next delivery applies it.
      // After a completing removal or a whole logout that failed, it may have been applied after
      // all, claim included (committed, its answer lost): the retry, then a replay, tells the
      // listeners.
      if (completing ?? whole) logout.tellIfReplayed = true;
      throw asApplyLogoutError(error);
    }
    if (claimKey === undefined || completing || whole) {
      await this.tell(registration, logout, sessions);
    } else if (completion === 'now') {
      await this.completeNow(registration, logout, claimKey, sessions);
    } else {
      // Told now of sessions removed; of none only once completed (as a retry would be).
      const tell =
        sessions.length > 0 ? undefined : () => this.tell(registration, logout, sessions);
      this.completeAfterAnswer(registration, logout, claimKey, tell);
      if (!tell) await this.tell(registration, logout, sessions);
    }
    return { replayed: false, sessions };
  }

  /**
   * Marks the claim applied before the caller answers (the pending queue's retries). When the store
   * fails, the sessions are removed (the listeners hear of it) but the claim is not marked applied:
   * the logout is reported as not applied, and a retry completes it.
   */
  private async completeNow(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    claimKey: string,
    sessions: OidcSessionInfo[],
  ): Promise<void> {
    let failed: unknown;
    try {
      await this.events.complete(claimKey);
    } catch (error) {
      failed = error ?? new Error('complete failed');
    }
    // Not completed: told only of sessions removed (a retry that removed nothing is told when it
    // completes).
    if (failed === undefined || sessions.length > 0) {
      await this.tell(registration, logout, sessions);
    }
    if (failed !== undefined) throw asRepositoryError(failed);
  }

  /**
   * Marks the claim applied once the caller has answered (the next turn of the event loop). When
   * the store fails, the logout is kept pending: its retry finds the claim still claimed, applies
   * the logout again (idempotent) and completes it, as a re-delivery by the OP would.
   */
  private completeAfterAnswer(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    claimKey: string,
    completed?: () => Promise<void>,
  ): void {
    setImmediate(() => {
      this.events
        .complete(claimKey)
        .then(completed, () => {
          this.defer(registration, logout);
        })
        // A listener's failure is its own (RevocationListeners logs it): the logout is applied.
        .catch(() => undefined);
    });
  }

  /** Tells the `onRevocation` listeners of an applied logout (nobody to tell: nothing built). */
  private async tell(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    sessions: OidcSessionInfo[],
  ): Promise<void> {
    this.listeners.record({
      channel: logout.channel,
      registrationId: registration.registrationId,
      sessions: sessions.length,
      named: namedBy(logout),
    });
    if (this.listeners.size === 0) return;
    const event: OidcRevocationEvent = {
      channel: logout.channel,
      registrationId: registration.registrationId,
      issuer: registration.issuer,
      clientId: registration.clientId,
      sessions,
      revokeOfflineAccess: logout.revokeOfflineAccess ?? false,
    };
    if (logout.sid !== undefined) event.sid = logout.sid;
    if (logout.sub !== undefined) event.sub = logout.sub;
    await this.listeners.emit(event);
  }

  /** A logout found applied already: told to the listeners only when asked (`tellIfReplayed`). */
  private async replayed(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
  ): Promise<AppliedLogoutResult> {
    if (logout.tellIfReplayed) await this.tell(registration, logout, []);
    return { replayed: true, sessions: [] };
  }

  /** The removal that completes the claim `claimKey`, when the two stores offer one. */
  private completingRemoval(claimKey: string): ClaimCompletion | undefined {
    const remove = completingRemoval(this.repository.raw, this.events.raw);
    return remove && { remove, claimKey };
  }
}

/** What a logout's removal names: its registration's issuer and client, its sid (hashed), its sub. */
function criteriaOf(
  registration: ResolvedClientRegistration,
  logout: AppliedLogout,
): OidcLogoutCriteria {
  return {
    issuer: registration.issuer,
    clientId: registration.clientId,
    sid: logout.sid === undefined ? undefined : hashSid(logout.sid),
    sub: logout.sub,
  };
}

/**
 * What a logout records in the event store: its replay claim (with a `jti`, until the token's
 * acceptable end and at least a minute) and its tombstone (unless `logout.tombstone` is `false`),
 * keyed by the sid (and sub), else by the sub alone.
 */
function logoutEvent(
  registration: ResolvedClientRegistration,
  logout: AppliedLogout,
  claimKey: string | undefined,
  nowMs: number,
): OidcLogoutEventBegin {
  const { issuer, clientId } = registration;
  const event: OidcLogoutEventBegin = {};
  if (claimKey !== undefined) {
    const until = Math.max(logout.jtiExpiresAt?.getTime() ?? 0, nowMs + 60_000);
    event.claim = { key: claimKey, expiresAt: new Date(until) };
  }
  if (logout.tombstone === false) return event;
  const key =
    logout.sid !== undefined
      ? sidTombstoneKey(issuer, clientId, logout.sid, logout.sub)
      : logout.sub !== undefined
        ? subTombstoneKey(issuer, clientId, logout.sub)
        : undefined;
  if (key !== undefined) {
    event.tombstone = {
      key,
      issuedAt: logout.issuedAt ?? Math.floor(nowMs / 1000),
      expiresAt: new Date(nowMs + LOGOUT_TOMBSTONE_TTL_SECONDS * 1000),
    };
  }
  return event;
}

/**
 * A failure of `applyLogout`: only the store's own failures are reported as
 * `ERR_REPOSITORY_UNAVAILABLE` (and may be kept pending). A `TypeError` or `RangeError` is an argument
 * the repository refused (its own checks, e.g. a tombstone's `issuedAt`): no retry can fix it, so it
 * is not the store's failure and never enters the pending queue.
 */
function asApplyLogoutError(error: unknown): OidcLogoutError {
  // The checked store rejects with a store failure for anything the store itself throws; a
  // TypeError or RangeError here is the library's own argument check, before the store was asked.
  if (error instanceof TypeError || error instanceof RangeError) {
    return new OidcLogoutError(
      'ERR_OIDC_LOGOUT_GENERIC',
      'The logout could not be applied: the library refused its own arguments to the store',
      { cause: error },
    );
  }
  return asRepositoryError(error);
}

/** What a logout named, for the audit line: its `sid`, its `sub`, or both. */
function namedBy(logout: AppliedLogout): RevocationSummary['named'] {
  if (logout.sid === undefined) return 'sub';
  return logout.sub === undefined ? 'sid' : 'sid_and_sub';
}
