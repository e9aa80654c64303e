import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { unknownRegistrationError } from '../errors/unknown-registration';
import type {
  OidcLogoutChannel,
  OidcRevocationEvent,
} from '../interfaces/oidc-revocation-event.interface';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { RecordLoginOptions, RevokeTarget } from '../interfaces/revoke-target.interface';
import type {
  OidcEndSessionUrlOptions,
  OidcRpLogoutOptions,
  OidcRpLogoutResult,
} from '../interfaces/rp-initiated-logout.interface';
// The one HTTP import of a service: logout(req, res) writes its answer (a public method since 0.1.0).
import { sendRpLogoutAnswer } from '../http/rp-logout-response';
import { LOGOUT_TOMBSTONE_TTL_SECONDS } from '../oidc-logout.constants';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import type { OidcLogoutEventBegin } from '../logout-events/oidc-logout-event.store';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { registrationById } from './client-registrations';
import { LoginRecording } from './login-recording';
import {
  logoutTokenKey,
  sidTombstoneKey,
  subTombstoneKey,
} from '../logout-events/logout-event-keys';
import { OidcDiscoveryService } from './oidc-discovery.service';
import type { PendingOperation } from '../logout-events/pending-operation';
import { PendingLogouts } from '../logout-events/pending-logouts';
import { asRepositoryError } from './repository-error';
import type { SessionRequest } from './request-session';
import { RevocationListeners, type OidcRevocationListener } from './revocation-listeners';
import { RpInitiatedLogout } from './rp-initiated-logout';

/**
 * The internal method of {@link LogoutService} that answers `isActive` synchronously when the store
 * can (the guard's fast path); no part of the public type.
 *
 * @internal
 */
export const IS_ACTIVE_NOW = Symbol('nest-oidc-logout.isActiveNow');

/** A verified logout, as {@link LogoutService.applyLogout} applies it. @internal */
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
}

/**
 * The library's entry point for applications: records logins, revokes sessions and tells whether a
 * session is still active. Every path goes through the app's `OidcSessionRepository`, the
 * single source of truth shared by all instances of the app (checked, and bounded by
 * `storeTimeoutMs`: an answer that is not well-formed, or none in time, fails closed).
 *
 * @publicApi
 */
@Injectable()
export class LogoutService implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly listeners: RevocationListeners;
  /** The login-recording flow (recordLogin, removeSession). */
  private readonly logins: LoginRecording;
  /** The RP-initiated logout flow (logout, endSessionUrl). */
  private readonly rpLogout: RpInitiatedLogout;
  /** Verified logouts (and login records to forget) the store could not take yet. */
  private readonly pending: PendingLogouts;

  /**
   * The longest lifetime of a login record this instance has written (`sessionTtlSeconds`, or a
   * longer session cookie's `maxAge`): how long a pending logout is kept before it is dropped.
   */
  private longestRecordTtlMs: number;

  /** Nest constructs it (its parameters are internal types). @internal */
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    /** The app's `OidcSessionRepository` behind the library's checks and time bound. */
    private readonly repository: CheckedSessionRepository,
    discovery: OidcDiscoveryService,
    /** The app's `OidcLogoutEventStore` (replay claims, tombstones), checked and bounded alike. */
    private readonly events: CheckedLogoutEventStore,
  ) {
    this.longestRecordTtlMs = options.sessionTtlSeconds * 1000;
    this.listeners = new RevocationListeners(options.onRevocation);
    this.pending = new PendingLogouts({
      apply: (operation) => this.applyPending(operation),
      journal: options.pendingLogoutJournal,
      registrations: options.clients,
    });
    this.logins = new LoginRecording(options, repository, events, discovery, {
      applyPending: (operation) => this.applyPending(operation),
      keepPending: (key, operation, keepUntil) => this.pending.add(key, operation, keepUntil),
      recordWritten: (ttlMs) => {
        if (ttlMs > this.longestRecordTtlMs) this.longestRecordTtlMs = ttlMs;
      },
    });
    this.rpLogout = new RpInitiatedLogout(options, repository, discovery, this.listeners);
  }

  /** Applies the logouts a journal kept from before a restart (`pendingLogoutJournal`). */
  onApplicationBootstrap(): void {
    this.pending.start();
  }

  /** Stops retrying pending logouts (those left are logged as lost, unless journaled). */
  onApplicationShutdown(): void {
    this.pending.close('shutdown');
  }

  /**
   * The verified logouts this instance keeps because the store could not take them yet (see
   * {@link LogoutService.deferLogout}): how many, and since when the oldest waits (epoch ms), for a
   * health check. While `count` is not 0, the sessions they name may still pass on other instances.
   */
  get pendingLogouts(): { count: number; oldestSince: number | undefined } {
    return { count: this.pending.size, oldestSince: this.pending.oldestSince };
  }

  /**
   * Adds a listener called after every revocation, on every channel, with the sessions removed.
   * Returns a function that removes it.
   */
  onRevocation(listener: OidcRevocationListener): () => void {
    return this.listeners.add(listener);
  }

  /**
   * Verifies the ID token the user just logged in with (signature by the OP's JWKS, `iss`, `aud`,
   * `exp`) and records the correlation of the request's session with the OP session (`sid`) and
   * user (`sub`). Call it after the login regenerated the session, with the raw ID token.
   *
   * @throws OidcLogoutError `ERR_NO_SESSION` without a session, `ERR_UNKNOWN_REGISTRATION` when no
   *   registration matches the token, `ERR_ID_TOKEN_INVALID`, `ERR_DISCOVERY_FAILED`,
   *   `ERR_REPOSITORY_UNAVAILABLE`.
   */
  async recordLogin(
    request: SessionRequest,
    idToken: string,
    options: RecordLoginOptions = {},
  ): Promise<OidcSessionInfo> {
    return this.logins.recordLogin(request, idToken, options);
  }

  /**
   * Ends the sessions a verified logout identifies: with `sid`, that OP session; with `sub` alone,
   * every session of that user; of one registration, or of every registration of one issuer.
   * Returns the sessions removed (an empty array when none was left).
   */
  async revoke(target: RevokeTarget): Promise<OidcSessionInfo[]> {
    if (!target.sid && !target.sub) {
      throw new OidcLogoutError('ERR_INVALID_REQUEST', 'revoke needs a sid or a sub');
    }
    const removed: OidcSessionInfo[] = [];
    for (const registration of this.registrationsFor(target)) {
      const result = await this.applyLogout(registration, {
        channel: 'api',
        sid: target.sid,
        sub: target.sub,
      });
      removed.push(...result.sessions);
    }
    return removed;
  }

  /**
   * Applies a verified logout of one registration: records its replay claim and tombstone (one call
   * of the event store), removes the sessions it names and tells the listeners. With a `jti`, the
   * claim is completed (marked applied) once the removal committed: until then a retry or a
   * re-delivery applies the logout again (idempotent), and once it is, a second delivery of the
   * same token to the same registration changes nothing (`replayed: true`).
   *
   * The completion runs after the caller's answer (`completion: 'after-answer'`, the default), so
   * that a back-channel logout costs two store round trips before it is answered; when it fails,
   * the logout is kept pending and applied again (the claim still claimed), which completes it.
   * `'now'` awaits it and rejects when it fails (the pending queue's retries).
   *
   * @internal
   */
  async applyLogout(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    { completion = 'after-answer' }: { completion?: 'now' | 'after-answer' } = {},
  ): Promise<{ replayed: boolean; sessions: OidcSessionInfo[] }> {
    const { issuer, clientId } = registration;
    const nowMs = Date.now();
    const claimKey =
      logout.jti === undefined ? undefined : logoutTokenKey(issuer, clientId, logout.jti);
    let sessions: OidcSessionInfo[];
    try {
      const event = logoutEvent(registration, logout, claimKey, nowMs);
      // 'replay' only for a claim already applied: anything else (new, or claimed by an
      // application that failed or is under way) is applied (again). The tombstone goes with the
      // claim, before the removal: a login recorded meanwhile then either is removed below or
      // finds the tombstone (recordLogin checks after it saves).
      if (event.claim ?? event.tombstone) {
        if ((await this.events.begin(event)) === 'replay') return { replayed: true, sessions: [] };
      }
      sessions = await this.removeSessions(registration, logout);
    } catch (error) {
      // Not applied: the claim stays claimed, so that a retry or the OP's next delivery applies it.
      throw asApplyLogoutError(error);
    }
    let failed: unknown;
    if (claimKey !== undefined && completion === 'now') {
      try {
        await this.events.complete(claimKey);
      } catch (error) {
        // The sessions are removed (the listeners hear of it below), but the claim is not marked
        // applied: the logout is reported as not applied, and a retry completes it.
        failed = error ?? new Error('complete failed');
      }
    } else if (claimKey !== undefined) {
      // Told now of sessions removed; of none only once completed (as a retry would be).
      const tell =
        sessions.length > 0 ? undefined : () => this.tell(registration, logout, sessions);
      this.completeAfterAnswer(registration, logout, claimKey, tell);
      if (tell) return { replayed: false, sessions };
    }
    // Not completed: told only of sessions removed (a retry that removed nothing is told when it
    // completes).
    if (failed === undefined || sessions.length > 0) {
      await this.tell(registration, logout, sessions);
    }
    if (failed !== undefined) throw asRepositoryError(failed);
    return { replayed: false, sessions };
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
          this.deferLogout(registration, logout);
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

  /** Removes the sessions a logout names; resolves those removed. */
  private removeSessions(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
  ): Promise<OidcSessionInfo[]> {
    return this.repository.removeByLogoutToken({
      issuer: registration.issuer,
      clientId: registration.clientId,
      sid: logout.sid === undefined ? undefined : hashSid(logout.sid),
      sub: logout.sub,
    });
  }

  /**
   * The OP's RP-Initiated Logout 1.0 request for a registration: its `end_session_endpoint` (from the
   * registration's `endSessionEndpoint`, else discovery) with `id_token_hint` (the session's ID token,
   * even expired), `post_logout_redirect_uri` (the registration's, exactly as configured),
   * `client_id`, and `state`, `ui_locales` and `logout_hint` when given. The endpoint's own query is
   * kept. Resolves to `undefined` when the OP has no `end_session_endpoint` (Google): log out locally
   * and go to the landing page instead.
   *
   * @throws OidcLogoutError `ERR_INVALID_REQUEST` without a registration or with two different ones,
   *   `ERR_UNKNOWN_REGISTRATION`, `ERR_DISCOVERY_FAILED`.
   */
  async endSessionUrl(options: OidcEndSessionUrlOptions): Promise<string | undefined> {
    return this.rpLogout.endSessionUrl(options);
  }

  /**
   * RP-initiated logout, for apps that build their own logout route (the module's `POST
   * {routes.logout}` calls it after its same-origin check; do the same, never call it on a GET).
   *
   * Ends the local session first, whatever happens next: removes the session's login record (the
   * correlation), logs passport out (`req.logout`, when present), destroys the application session
   * and tells the `onRevocation` listeners (channel `'rp-initiated'`). Then sends the browser to the
   * OP's end-session endpoint with a fresh `state`, kept in a short-lived HttpOnly cookie for the
   * logout callback: a 302 (`'GET'`) or an auto-submitting form (`'POST'`). Without a recorded login,
   * or when the OP has no `end_session_endpoint`, a 302 to `postLogoutLandingUrl`. When the store or
   * the OP's metadata cannot be reached, an error page (503 / 502). Every answer is `no-store`.
   *
   * @param response Express's response, a Node `ServerResponse`, or a reply with a `raw` one (Fastify).
   */
  async logout(
    request: SessionRequest & { logout?: unknown },
    response: ServerResponse | { raw: ServerResponse },
    options: OidcRpLogoutOptions = {},
  ): Promise<OidcRpLogoutResult> {
    const decision = await this.rpLogout.logout(request, options);
    sendRpLogoutAnswer(request, response, decision, this.options.routes.logoutCallback);
    return decision.result;
  }

  /**
   * Whether the application session id has a live login record (as {@link LogoutService.findSession}
   * tells it). Rejects when the store fails.
   */
  isActive(clientSessionId: string): Promise<boolean> {
    const active = this[IS_ACTIVE_NOW](clientSessionId);
    return typeof active === 'boolean' ? Promise.resolve(active) : active;
  }

  /**
   * {@link LogoutService.isActive} for the guard: a `boolean` at once when the store answers
   * synchronously (the in-memory one does), a promise otherwise. Never throws: when the store fails,
   * it returns a rejected promise.
   *
   * @internal
   */
  [IS_ACTIVE_NOW](clientSessionId: string): boolean | Promise<boolean> {
    // The guard calls it on every request: no async frame, no record built when the repository can
    // tell existence alone. With logouts pending, the record is needed to match them.
    if (this.pending.size !== 0) return this.findSession(clientSessionId).then(isDefined);
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
      // A logout was deferred while the store was answering: decide as findSession does.
      if (!found) {
        this.pending.wake();
        return false;
      }
      return this.findSession(clientSessionId).then(isDefined);
    });
  }

  /**
   * The live login record of an application session id (hashed here), or `undefined`: also when a
   * verified logout that names it is still pending in this process (the store was unavailable when
   * it arrived; see {@link LogoutService.deferLogout}).
   */
  async findSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    const info = await this.repository.findByClientSessionId(hashSessionId(clientSessionId));
    if (this.pending.size === 0) return info;
    // The store answers again: apply what is pending now rather than at the next retry.
    this.pending.wake();
    return info && this.pending.matches(info) ? undefined : info;
  }

  /**
   * Keeps a verified logout that {@link LogoutService.applyLogout} could not apply because the store
   * was unavailable, and applies it in the background once the store answers again (see
   * `PendingLogouts`). Meanwhile this instance's guard refuses the sessions it names. Returns
   * whether it is kept (`false` when too many logouts are pending already). Call it only with a
   * logout whose token was verified completely, and with a `jti` (the key of the entry).
   *
   * @internal
   */
  deferLogout(registration: ResolvedClientRegistration, logout: AppliedLogout): boolean {
    if (logout.jti === undefined) return false;
    const nowMs = Date.now();
    // Until every record it can end has expired: the longest lifetime a login record written here
    // can have (a session cookie may outlive sessionTtlSeconds); dropped sooner, it would be lost.
    const keepUntil = nowMs + this.longestRecordTtlMs;
    return this.pending.add(
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
        },
      },
      keepUntil,
    );
  }

  /** Forgets the login record of an application session id (local logout). */
  removeSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.logins.removeSession(clientSessionId);
  }

  /** Where the guard sends HTML requests whose session has ended (the `loginUrl` option). */
  get loginUrl(): string | undefined {
    return this.options.loginUrl;
  }

  /** The registration with that id. @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION`. @internal */
  getRegistration(registrationId: string): ResolvedClientRegistration {
    return registrationById(this.options.clients, registrationId);
  }

  /** Applies one pending operation; rejects while the store cannot take it. */
  private async applyPending(operation: PendingOperation): Promise<void> {
    if (operation.kind === 'logout') {
      await this.applyLogout(
        operation.registration,
        { channel: 'back-channel', ...operation.logout },
        { completion: 'now' },
      );
      return;
    }
    const { clientSessionId, createdAt } = operation;
    const current = await this.repository.findByClientSessionId(clientSessionId);
    // Gone already, or replaced by a later login of the same session: nothing to forget.
    if (current?.createdAt.getTime() !== createdAt) return;
    await this.repository.removeByClientSessionId(clientSessionId);
  }

  private registrationsFor(target: RevokeTarget): readonly ResolvedClientRegistration[] {
    if (target.registrationId !== undefined) return [this.getRegistration(target.registrationId)];
    const registrations = this.options.clients.filter((c) => c.issuer === target.issuer);
    if (registrations.length === 0) {
      throw unknownRegistrationError(
        'No client registration has that issuer',
        this.options.clients,
        "give the issuer exactly as a registration's issuer, or a registrationId",
        true,
      );
    }
    return registrations;
  }
}

const isDefined = (value: unknown): boolean => value !== undefined;

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
 * A failure of {@link LogoutService.applyLogout}: only the store's own failures are reported as
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
