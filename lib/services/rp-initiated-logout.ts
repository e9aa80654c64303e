import { Logger } from '@nestjs/common';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type {
  OidcEndSessionUrlOptions,
  OidcRpLogoutOptions,
  OidcRpLogoutResult,
} from '../interfaces/rp-initiated-logout.interface';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import type { CheckedSessionRepository } from '../repositories/checked-session-repository';
import { hashSessionId } from '../repositories/session-id-hash';
import { registrationById } from './client-registrations';
import {
  buildEndSessionUrl,
  endSessionForm,
  newLogoutState,
  type EndSessionParameters,
} from './end-session-url';
import type { OidcDiscoveryService } from './oidc-discovery.service';
import { logOutPassport } from './passport-logout';
import { destroySession, sessionIdOf, type SessionRequest } from './request-session';
import type { RevocationListeners } from './revocation-listeners';

/**
 * What the browser is answered after an RP-initiated logout, as data: the HTTP edge
 * (`lib/http/rp-logout-response.ts`) writes it.
 *
 * @internal
 */
export type RpLogoutAnswer =
  /** 302 to `location`. */
  | { kind: 'redirect'; location: string }
  /** The auto-submitting form that POSTs the end-session request. */
  | { kind: 'end-session-form'; action: string; fields: Array<[string, string]> }
  /** An error page (503: the store failed; 502: the OP's metadata could not be read). */
  | { kind: 'failed'; status: 502 | 503; message: string; landingUrl: string };

/**
 * An RP-initiated logout done (the local session ended) and what remains to answer.
 *
 * @internal
 */
export interface RpLogoutDecision {
  result: OidcRpLogoutResult;
  answer: RpLogoutAnswer;
  /** The `state` to keep in the state cookie, scoped to the post-logout redirect URI's path. */
  stateCookie?: { state: string; postLogoutRedirectUri: string };
}

/** The end-session endpoint and its request parameters. @internal */
export interface EndSessionRequest {
  endpoint: string;
  params: EndSessionParameters;
}

const STORE_FAILED_MESSAGE =
  'You are logged out of this application, but the logout could not be completed at your identity provider: please try again later or close your browser.';
const OP_UNREACHABLE_MESSAGE =
  'You are logged out of this application, but your identity provider could not be reached to end your single sign-on session: please try again later or close your browser.';

/**
 * The RP-initiated logout flow of `LogoutService` (RP-Initiated Logout 1.0): ends the local session,
 * then decides where the browser goes (the OP's end-session endpoint, or the landing page). It writes
 * no response: {@link RpLogoutDecision} says what to answer.
 *
 * @internal
 */
export class RpInitiatedLogout {
  private readonly logger = new Logger('OidcRpInitiatedLogout');

  constructor(
    private readonly options: ResolvedOidcLogoutOptions,
    private readonly repository: CheckedSessionRepository,
    private readonly discovery: OidcDiscoveryService,
    private readonly listeners: RevocationListeners,
  ) {}

  /** See `LogoutService.logout`: everything but writing the answer. */
  async logout(
    request: SessionRequest & { logout?: unknown },
    options: OidcRpLogoutOptions = {},
  ): Promise<RpLogoutDecision> {
    const landingUrl = this.options.postLogoutLandingUrl;
    const { session, storeFailed } = await this.endLocalSession(request);
    if (storeFailed) {
      return {
        result: { outcome: 'failed' },
        answer: { kind: 'failed', status: 503, message: STORE_FAILED_MESSAGE, landingUrl },
      };
    }
    if (session) await this.listeners.sessionEnded('rp-initiated', session);
    // A record of a registration since removed from the configuration: its OP is unknown now.
    const registration =
      session && this.options.clients.find((c) => c.registrationId === session.registrationId);
    if (!session || !registration) {
      return {
        result: session ? { outcome: 'landing', session } : { outcome: 'landing' },
        answer: { kind: 'redirect', location: landingUrl },
      };
    }
    return this.endSessionAtOp(session, registration, options);
  }

  /** See `LogoutService.endSessionUrl`. */
  async endSessionUrl(options: OidcEndSessionUrlOptions): Promise<string | undefined> {
    const request = await this.endSessionRequest(options);
    return request && buildEndSessionUrl(request.endpoint, request.params);
  }

  /** The end-session endpoint and parameters of {@link endSessionUrl}; `undefined` without one. */
  async endSessionRequest(
    options: OidcEndSessionUrlOptions,
  ): Promise<EndSessionRequest | undefined> {
    const registration = registrationById(this.options.clients, endSessionRegistrationId(options));
    // A static endpoint needs no discovery (which may be down).
    const endpoint =
      registration.endSessionEndpoint ??
      (await this.discovery.getMetadata(registration)).endSessionEndpoint;
    if (endpoint === undefined) return undefined;
    return {
      endpoint,
      params: {
        idTokenHint: options.idTokenHint ?? options.session?.idToken,
        postLogoutRedirectUri: options.postLogoutRedirectUri ?? registration.postLogoutRedirectUri,
        clientId: registration.clientId,
        state: options.state,
        uiLocales: options.uiLocales,
        logoutHint: options.logoutHint,
      },
    };
  }

  /**
   * Ends the local session, whatever happens next: removes its login record, logs passport out and
   * destroys the application session. `storeFailed` when the record could not be removed.
   */
  private async endLocalSession(
    request: SessionRequest & { logout?: unknown },
  ): Promise<{ session?: OidcSessionInfo; storeFailed: boolean }> {
    const sessionId = sessionIdOf(request);
    let session: OidcSessionInfo | undefined;
    let storeFailed = false;
    if (sessionId !== undefined) {
      try {
        session = await this.repository.removeByClientSessionId(hashSessionId(sessionId));
      } catch (error) {
        storeFailed = true;
        this.logger.error({
          event: 'oidc_rp_logout_failed',
          reason: 'repository_unavailable',
          error: error instanceof Error ? error.name : typeof error,
        });
      }
    }
    await logOutPassport(request, this.logger);
    if (await destroySession(request)) {
      // The login record is gone (or the guard refuses the session anyway once it is).
      this.logger.warn({ event: 'oidc_rp_logout_session_not_destroyed' });
    }
    return { session, storeFailed };
  }

  /** Sends the browser to the OP's end-session endpoint, with a fresh `state` when it comes back. */
  private async endSessionAtOp(
    session: OidcSessionInfo,
    registration: ResolvedClientRegistration,
    options: OidcRpLogoutOptions,
  ): Promise<RpLogoutDecision> {
    const landingUrl = this.options.postLogoutLandingUrl;
    const postLogoutRedirectUri = registration.postLogoutRedirectUri;
    // Without a post-logout redirect URI the OP does not come back, and a state has no use.
    const state = postLogoutRedirectUri === undefined ? undefined : newLogoutState();
    let endSession: EndSessionRequest | undefined;
    try {
      endSession = await this.endSessionRequest({
        session,
        state,
        uiLocales: options.uiLocales,
        logoutHint: options.logoutHint,
      });
    } catch (error) {
      this.logger.error({
        event: 'oidc_rp_logout_failed',
        registrationId: registration.registrationId,
        reason: error instanceof OidcLogoutError ? error.code : 'ERR_OIDC_LOGOUT_GENERIC',
      });
      return {
        result: { outcome: 'failed', session },
        answer: { kind: 'failed', status: 502, message: OP_UNREACHABLE_MESSAGE, landingUrl },
      };
    }
    if (!endSession) {
      return {
        result: { outcome: 'landing', session },
        answer: { kind: 'redirect', location: landingUrl },
      };
    }
    const method = options.method ?? this.options.rpLogoutMethod;
    const answer: RpLogoutAnswer =
      method === 'POST'
        ? { kind: 'end-session-form', ...endSessionForm(endSession.endpoint, endSession.params) }
        : {
            kind: 'redirect',
            location: buildEndSessionUrl(endSession.endpoint, endSession.params),
          };
    if (state === undefined || postLogoutRedirectUri === undefined) {
      return { result: { outcome: 'end-session', session }, answer };
    }
    return {
      result: { outcome: 'end-session', session, state },
      answer,
      stateCookie: { state, postLogoutRedirectUri },
    };
  }
}

/** The registration an end-session request is for. @throws OidcLogoutError `ERR_INVALID_REQUEST`. */
function endSessionRegistrationId(options: OidcEndSessionUrlOptions): string {
  const { registrationId, session } = options;
  if (
    registrationId !== undefined &&
    session !== undefined &&
    registrationId !== session.registrationId
  ) {
    throw new OidcLogoutError(
      'ERR_INVALID_REQUEST',
      'endSessionUrl: registrationId and session name different registrations',
    );
  }
  const id = registrationId ?? session?.registrationId;
  if (id === undefined) {
    throw new OidcLogoutError(
      'ERR_INVALID_REQUEST',
      'endSessionUrl needs a registrationId or a session',
    );
  }
  return id;
}
