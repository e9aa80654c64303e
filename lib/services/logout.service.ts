import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import type { OidcRevocationEvent } from '../interfaces/oidc-revocation-event.interface';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { RecordLoginOptions, RevokeTarget } from '../interfaces/revoke-target.interface';
import type {
  OidcEndSessionUrlOptions,
  OidcRpLogoutOptions,
  OidcRpLogoutResult,
} from '../interfaces/rp-initiated-logout.interface';
// The one HTTP import of a service: logout(req, res) writes its answer (a public method since 0.1.0).
import { sendRpLogoutAnswer } from '../http/rp-logout-response';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { registrationById } from './client-registrations';
import { DeferredLogouts } from './deferred-logouts';
import { LoginRecording } from './login-recording';
import {
  LogoutApplication,
  type AppliedLogout,
  type AppliedLogoutResult,
  type ApplyLogoutOptions,
} from './logout-application';
import { OidcDiscoveryService } from './oidc-discovery.service';
import type { SessionRequest } from './request-session';
import { RevocationListeners, type OidcRevocationListener } from './revocation-listeners';
import { RpInitiatedLogout } from './rp-initiated-logout';
import { SessionLookup } from './session-lookup';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

/**
 * The internal method of {@link LogoutService} that answers `isActive` synchronously when the store
 * can (the guard's fast path); no part of the public type.
 *
 * @internal
 */
export const IS_ACTIVE_NOW = Symbol('nest-oidc-logout.isActiveNow');

/** The app's {@link OidcTelemetry}, for the guard (whose constructor is public). @internal */
export const TELEMETRY = Symbol('nest-oidc-logout.telemetry');

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
  /** @internal */
  readonly [TELEMETRY]: OidcTelemetry;
  /** The revocation flow (applyLogout: claim, tombstone, removal, listeners). */
  private readonly revocation: LogoutApplication;
  /** The logouts (and login records to forget) kept until the store takes them (deferLogout). */
  private readonly deferred: DeferredLogouts;
  /** Whether a session is still active (isActive, findSession), pending logouts included. */
  private readonly lookup: SessionLookup;
  /** The RP-initiated logout flow (logout, endSessionUrl). */
  private readonly rpLogout: RpInitiatedLogout;

  /** Nest constructs it (its parameters are internal types). @internal */
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    /** The app's `OidcSessionRepository` behind the library's checks and time bound. */
    repository: CheckedSessionRepository,
    discovery: OidcDiscoveryService,
    /** The app's `OidcLogoutEventStore` (replay claims, tombstones), checked and bounded alike. */
    events: CheckedLogoutEventStore,
    /** The app's metrics and spans (no-ops without an OpenTelemetry SDK). */
    telemetry: OidcTelemetry,
  ) {
    this[TELEMETRY] = telemetry;
    this.listeners = new RevocationListeners(options.onRevocation, telemetry);
    // The flows call each other through this service's methods (a kept logout is applied again
    // with applyLogout, a claim that could not be completed is kept with deferLogout).
    this.deferred = new DeferredLogouts(options, repository, async (registration, kept) => {
      const logout = { channel: 'back-channel' as const, ...kept };
      try {
        return await this.applyLogout(registration, logout, { completion: 'now' });
      } finally {
        // What this attempt learnt (a completing removal failed) stays with the kept logout.
        if (logout.tellIfReplayed) kept.tellIfReplayed = true;
      }
    });
    this.revocation = new LogoutApplication(
      options.clients,
      repository,
      events,
      this.listeners,
      (registration, logout) => this.deferLogout(registration, logout),
    );
    this.lookup = new SessionLookup(repository, this.deferred.queue);
    this.logins = new LoginRecording(options, repository, events, discovery, this.deferred);
    this.rpLogout = new RpInitiatedLogout(options, repository, discovery, this.listeners);
    telemetry.observePendingLogouts(() => this.deferred.queue.size);
  }

  /** Applies the logouts a journal kept from before a restart (`pendingLogoutJournal`). */
  onApplicationBootstrap(): void {
    this.deferred.queue.start();
  }

  /** Stops retrying pending logouts (those left are logged as lost, unless journaled). */
  onApplicationShutdown(): void {
    this.deferred.queue.close('shutdown');
  }

  /**
   * The verified logouts this instance keeps because the store could not take them yet (see
   * {@link LogoutService.deferLogout}): how many, and since when the oldest waits (epoch ms), for a
   * health check. While `count` is not 0, the sessions they name may still pass on other instances.
   */
  get pendingLogouts(): { count: number; oldestSince: number | undefined } {
    const { queue } = this.deferred;
    return { count: queue.size, oldestSince: queue.oldestSince };
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
    return this.revocation.revoke(target);
  }

  /**
   * Applies a verified logout of one registration: records its replay claim and tombstone (one call
   * of the event store), removes the sessions it names and tells the listeners. With a `jti`, the
   * claim is completed (marked applied) once the removal committed: until then a retry or a
   * re-delivery applies the logout again (idempotent), and once it is, a second delivery of the
   * same token to the same registration changes nothing (`replayed: true`).
   *
   * When the two stores offer it (the library's own, on one PostgreSQL DataSource), the removal's
   * statement completes the claim itself. Otherwise the completion runs after the caller's answer
   * (`completion: 'after-answer'`, the default), so that a back-channel logout costs two store
   * round trips before it is answered; when it fails, the logout is kept pending and applied again
   * (the claim still claimed), which completes it. `'now'` awaits it and rejects when it fails (the
   * pending queue's retries).
   *
   * @internal
   */
  async applyLogout(
    registration: ResolvedClientRegistration,
    logout: AppliedLogout,
    options: ApplyLogoutOptions = {},
  ): Promise<AppliedLogoutResult> {
    return this.revocation.apply(registration, logout, options);
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
    return this.lookup.isActiveNow(clientSessionId);
  }

  /**
   * The live login record of an application session id (hashed here), or `undefined`: also when a
   * verified logout that names it is still pending in this process (the store was unavailable when
   * it arrived; see {@link LogoutService.deferLogout}).
   */
  async findSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.lookup.find(clientSessionId);
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
    return this.deferred.defer(registration, logout);
  }

  /** Forgets the login record of an application session id (local logout). */
  removeSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.logins.removeSession(clientSessionId);
  }

  /**
   * Ends one application session through a logout `channel` (a front-channel logout by the
   * request's cookie, whose login had no `sid`): its login record removed, then the audit line,
   * the metric and the `onRevocation` listeners, as for any revocation. Answers the record, or
   * `undefined` when there was none (nothing is told then).
   *
   * @internal
   */
  async endSession(
    channel: OidcRevocationEvent['channel'],
    clientSessionId: string,
  ): Promise<OidcSessionInfo | undefined> {
    const session = await this.logins.removeSession(clientSessionId);
    if (session) await this.listeners.sessionEnded(channel, session);
    return session;
  }

  /** Where the guard sends HTML requests whose session has ended (the `loginUrl` option). */
  get loginUrl(): string | undefined {
    return this.options.loginUrl;
  }

  /** The registration with that id. @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION`. @internal */
  getRegistration(registrationId: string): ResolvedClientRegistration {
    return registrationById(this.options.clients, registrationId);
  }
}
