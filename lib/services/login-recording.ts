import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { RecordLoginOptions } from '../interfaces/revoke-target.interface';
import { markLoginRecorded } from './login-in-progress';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import type { CheckedLogoutEventStore } from '../logout-events/checked-logout-event-store';
import type { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId, hashSid } from '../repositories/session-id-hash';
import { verifyIdToken, type VerifiedIdToken } from '../tokens/id-token.verifier';
import { registrationById, registrationForIdToken } from './client-registrations';
import { endedByLogout } from '../logout-events/login-tombstones';
import type { OidcDiscoveryService } from './oidc-discovery.service';
import type { PendingOperation } from '../logout-events/pending-operation';
import { asRepositoryError } from './repository-error';
import { sessionIdOf, sessionMaxAgeMs, type SessionRequest } from './request-session';

/**
 * What login recording needs from the revocation side of `LogoutService`: its pending queue, for a
 * record that could not be forgotten now, and the longest record lifetime it keeps logouts for.
 *
 * @internal
 */
export interface LoginRecordingHooks {
  /** Applies one pending operation now; rejects while the store cannot take it. */
  applyPending(operation: PendingOperation): Promise<void>;
  /** Keeps an operation in the pending queue, under `key`, until `keepUntil` (epoch ms). */
  keepPending(key: string, operation: PendingOperation, keepUntil: number): void;
  /** A login record was written that lives `ttlMs`. */
  recordWritten(ttlMs: number): void;
}

/**
 * The login-recording flow of `LogoutService`: verifies the ID token of a login, writes its record
 * (the correlation of the application session with the OP session and user), checks it against the
 * logouts that came first, and forgets records (local logout, or a login that did not go through).
 *
 * @internal
 */
export class LoginRecording {
  constructor(
    private readonly options: ResolvedOidcLogoutOptions,
    private readonly repository: CheckedSessionRepository,
    /** Where the logouts that came first left their tombstones. */
    private readonly events: CheckedLogoutEventStore,
    private readonly discovery: OidcDiscoveryService,
    private readonly hooks: LoginRecordingHooks,
  ) {
    // A save reported failed (timed out) that went through after all: the login (or the session
    // id change) it was for was refused, and the record was forgotten before it existed. Forgotten
    // again now, or kept pending until the store takes the removal.
    repository.onLateSave((info) => void this.forgetLogin(info));
  }

  /** See `LogoutService.recordLogin`. */
  async recordLogin(
    request: SessionRequest,
    idToken: string,
    options: RecordLoginOptions = {},
  ): Promise<OidcSessionInfo> {
    const sessionId = sessionIdOf(request);
    if (!sessionId) {
      throw new OidcLogoutError(
        'ERR_NO_SESSION',
        'recordLogin needs a request with a server-side session (express-session or @fastify/session)',
      );
    }
    const registration = options.registrationId
      ? registrationById(this.options.clients, options.registrationId)
      : registrationForIdToken(this.options.clients, idToken);
    const verified = await verifyIdToken(
      idToken,
      await this.discovery.getTokenExpectations(registration),
    );
    const info = this.loginRecord(request, sessionId, registration, idToken, verified);
    let ended: boolean;
    try {
      await this.repository.save(info);
      // A logout may have reached the app before this login was recorded (the OP is fast, the
      // login callback slow). Logouts write their tombstone before they revoke, and the check comes
      // after the save, so whatever the interleaving either the revocation or this check sees the
      // other.
      ended = await endedByLogout(this.events, info, verified.sid, verified.payload.iat);
    } catch (error) {
      // The record may be saved (a failed write can have committed) but was not checked.
      await this.forgetLogin(info);
      throw asRepositoryError(error);
    }
    if (ended) {
      await this.forgetLogin(info);
      throw new OidcLogoutError(
        'ERR_SESSION_ENDED',
        'The OP ended this session before the login was recorded; log in again',
      );
    }
    // Only this login may follow this request's session regenerate (passport's req.logIn).
    markLoginRecorded(request, sessionId, info);
    return info;
  }

  /** Forgets the login record of an application session id (local logout). */
  removeSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.repository.removeByClientSessionId(hashSessionId(clientSessionId));
  }

  /**
   * Removes a login record that `recordLogin` could not finish. When the store cannot do it now,
   * the removal is kept in the pending queue (and the guard refuses the record meanwhile), so that
   * a half-recorded login never passes the guard.
   */
  async forgetLogin(info: OidcSessionInfo): Promise<void> {
    const operation: PendingOperation = {
      kind: 'forget-login',
      clientSessionId: info.clientSessionId,
      createdAt: info.createdAt.getTime(),
    };
    try {
      await this.hooks.applyPending(operation);
    } catch {
      this.hooks.keepPending(
        `login\u0000${info.clientSessionId}\u0000${operation.createdAt}`,
        operation,
        info.expiresAt.getTime(),
      );
    }
  }

  /** The login record of a verified ID token, living `sessionTtlSeconds` or the session cookie's maxAge. */
  private loginRecord(
    request: SessionRequest,
    sessionId: string,
    registration: ResolvedClientRegistration,
    idToken: string,
    verified: VerifiedIdToken,
  ): OidcSessionInfo {
    const now = Date.now();
    const ttlMs = Math.max(this.options.sessionTtlSeconds * 1000, sessionMaxAgeMs(request) ?? 0);
    this.hooks.recordWritten(ttlMs);
    return {
      clientSessionId: hashSessionId(sessionId),
      registrationId: registration.registrationId,
      issuer: registration.issuer,
      clientId: registration.clientId,
      // Stored as its digest: a leaked table gives no sid a front-channel request could use.
      sid: verified.sid === undefined ? undefined : hashSid(verified.sid),
      sub: verified.sub,
      idToken,
      createdAt: new Date(now),
      expiresAt: new Date(now + ttlMs),
    };
  }
}
