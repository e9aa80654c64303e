import { Inject, Injectable } from '@nestjs/common';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import { LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS } from '../oidc-logout.constants';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { errorType } from '../errors/error-type';
import { LogoutTokenError } from '../tokens/logout-token.error';
import {
  createLogoutTokenVerifier,
  type LogoutTokenVerifier,
} from '../tokens/logout-token.verifier';
import type { AppliedLogout } from './logout-application';
import { LogoutService } from './logout.service';
import { OidcDiscoveryService } from './oidc-discovery.service';
import { PendingLogoutError } from '../logout-events/pending-logout.error';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';

/** What a back-channel logout did. @publicApi */
export interface BackChannelLogoutResult {
  registrationId: string;
  /** A second delivery of a token already applied: nothing was done again. */
  replayed: boolean;
  /** The sessions removed (none for a replay, or when they were already gone). */
  sessions: OidcSessionInfo[];
}

/**
 * Back-Channel Logout 1.0 for one registration: verifies the logout token completely (signature,
 * algorithm, claims) before anything is looked up, then applies it once (replays change nothing).
 * The HTTP endpoint uses it; so can an application that receives logout tokens another way.
 *
 * @publicApi
 */
@Injectable()
export class BackChannelLogoutService {
  /**
   * The verifier of each registration's logout tokens, built once its OP's keys and algorithms are
   * known, and again when a discovery refresh changed them (the version `OidcDiscoveryService`
   * gives; the key set refetches keys itself). Until then, every token asks discovery again.
   */
  private readonly verifiers = new Map<
    ResolvedClientRegistration,
    { verify: LogoutTokenVerifier; version: number }
  >();

  /** Nest constructs it (its parameters are internal types). @internal */
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    private readonly logoutService: LogoutService,
    private readonly discovery: OidcDiscoveryService,
    private readonly telemetry: OidcTelemetry,
  ) {}

  /**
   * @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION`, `ERR_INVALID_REQUEST` (back-channel logout
   *   disabled), `ERR_LOGOUT_TOKEN_INVALID` (a `LogoutTokenError` with its `reason`),
   *   `ERR_DISCOVERY_FAILED`, `ERR_REPOSITORY_UNAVAILABLE`. With the last one, the verified logout
   *   was not applied but is kept in this process and applied in the background as soon as the
   *   store answers again (unless too many logouts are pending already); meanwhile the guard of
   *   this instance refuses the sessions it names. A second delivery of the same token is safe.
   *   Only a failure of the store itself is kept pending: anything else (e.g. an argument the
   *   repository refuses, `ERR_OIDC_LOGOUT_GENERIC`) is thrown as it is, never retried.
   */
  async handleLogoutToken(
    registrationId: string,
    logoutToken: string,
  ): Promise<BackChannelLogoutResult> {
    const registration = this.logoutService.getRegistration(registrationId);
    if (registration.backChannel === false) {
      throw new OidcLogoutError(
        'ERR_INVALID_REQUEST',
        'back-channel logout is disabled for this registration',
      );
    }
    const cached = this.verifiers.get(registration);
    const verify =
      cached?.version === this.discovery.getVersion(registration)
        ? cached.verify
        : await this.verifierFor(registration);
    const claims = await this.verified(registration.registrationId, verify, logoutToken);
    if (registration.backChannel.sessionRequired && claims.sid === undefined) {
      throw new LogoutTokenError(
        'sid_missing',
        'the registration requires a sid (backchannel_logout_session_required) and the token has none',
      );
    }
    const logout: AppliedLogout = {
      channel: 'back-channel',
      sid: claims.sid,
      sub: claims.sub,
      jti: claims.jti,
      jtiExpiresAt: new Date(claims.acceptableUntil * 1000),
      issuedAt: claims.iat,
      revokeOfflineAccess: claims.revokeOfflineAccess,
    };
    let result: Awaited<ReturnType<LogoutService['applyLogout']>>;
    try {
      result = await this.logoutService.applyLogout(registration, logout);
    } catch (error) {
      // Only the store's own failure is kept: no retry fixes anything else.
      if (!(error instanceof OidcLogoutError) || error.code !== 'ERR_REPOSITORY_UNAVAILABLE') {
        throw error;
      }
      // Verified completely, not applied: keep it rather than lose it (OPs rarely retry).
      const queued = this.logoutService.deferLogout(registration, logout);
      throw new PendingLogoutError(queued, { cause: error });
    }
    const { replayed, sessions } = result;
    return { registrationId: registration.registrationId, replayed, sessions };
  }

  /**
   * `verify(logoutToken)`, its time recorded (`oidc_logout.token.verification.duration`, with the
   * refusal's reason). No span of its own: it is the process's own work, and a fetch of the keys
   * it waits for has its span.
   */
  private async verified(
    registrationId: string,
    verify: LogoutTokenVerifier,
    logoutToken: string,
  ): ReturnType<LogoutTokenVerifier> {
    const telemetry = this.telemetry;
    const startedAt = telemetry.now();
    try {
      const claims = await verify(logoutToken);
      telemetry.tokenVerified(registrationId, startedAt);
      return claims;
    } catch (error) {
      const reason = error instanceof LogoutTokenError ? error.reason : errorType(error);
      telemetry.tokenVerified(registrationId, startedAt, reason);
      throw error;
    }
  }

  /** Builds (and keeps) the registration's verifier; rejects while its OP is unavailable. */
  private async verifierFor(
    registration: ResolvedClientRegistration,
  ): Promise<LogoutTokenVerifier> {
    const version = this.discovery.getVersion(registration);
    const verify = createLogoutTokenVerifier({
      ...(await this.discovery.getTokenExpectations(registration)),
      legacy: registration.legacyLogoutTokens,
      legacyMaxAgeSeconds: LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS,
      decryptionKey: registration.decryptionKey,
    });
    this.verifiers.set(registration, { verify, version });
    return verify;
  }
}
