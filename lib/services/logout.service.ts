import { Inject, Injectable } from '@nestjs/common';
import { decodeJwt } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { RecordLoginOptions, RevokeTarget } from '../interfaces/revoke-target.interface';
import { OIDC_LOGOUT_RESOLVED_OPTIONS } from '../oidc-logout.module-definition';
import type {
  ResolvedClientRegistration,
  ResolvedOidcLogoutOptions,
} from '../options/resolved-oidc-logout-options';
import { OidcSessionRepository } from '../repositories/oidc-session.repository';
import { hashSessionId } from '../repositories/session-id-hash';
import { verifyIdToken } from '../tokens/id-token.verifier';
import { OidcDiscoveryService } from './oidc-discovery.service';
import { sessionIdOf, sessionMaxAgeMs, type SessionRequest } from './request-session';

/**
 * The library's entry point for applications: records logins, revokes sessions and tells whether a
 * session is still active. Every path goes through the {@link OidcSessionRepository}, the single
 * source of truth shared by all instances of the app.
 *
 * @publicApi
 */
@Injectable()
export class LogoutService {
  constructor(
    @Inject(OIDC_LOGOUT_RESOLVED_OPTIONS) private readonly options: ResolvedOidcLogoutOptions,
    private readonly repository: OidcSessionRepository,
    private readonly discovery: OidcDiscoveryService,
  ) {}

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
    const sessionId = sessionIdOf(request);
    if (!sessionId) {
      throw new OidcLogoutError(
        'ERR_NO_SESSION',
        'recordLogin needs a request with a server-side session (express-session or @fastify/session)',
      );
    }
    const registration = options.registrationId
      ? this.getRegistration(options.registrationId)
      : this.registrationForToken(idToken);
    const [keys, algorithms] = await Promise.all([
      this.discovery.getKeySet(registration),
      this.discovery.getAlgorithms(registration),
    ]);
    const verified = await verifyIdToken(idToken, {
      issuer: registration.issuer,
      clientId: registration.clientId,
      clientSecret: registration.clientSecret,
      algorithms,
      keys,
      clockToleranceSeconds: this.options.clockToleranceSeconds,
    });
    const now = Date.now();
    const ttlMs = Math.max(this.options.sessionTtlSeconds * 1000, sessionMaxAgeMs(request) ?? 0);
    const info: OidcSessionInfo = {
      clientSessionId: hashSessionId(sessionId),
      registrationId: registration.registrationId,
      issuer: registration.issuer,
      clientId: registration.clientId,
      sid: verified.sid,
      sub: verified.sub,
      idToken,
      createdAt: new Date(now),
      expiresAt: new Date(now + ttlMs),
    };
    await this.repository.save(info);
    return info;
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
    const registrations = this.registrationsFor(target);
    const removed: OidcSessionInfo[] = [];
    for (const registration of registrations) {
      const sessions = await this.repository.removeByLogoutToken({
        issuer: registration.issuer,
        clientId: registration.clientId,
        sid: target.sid,
        sub: target.sub,
      });
      removed.push(...sessions);
    }
    return removed;
  }

  /** Whether the application session id has a live login record. Rejects when the store fails. */
  async isActive(clientSessionId: string): Promise<boolean> {
    return (await this.findSession(clientSessionId)) !== undefined;
  }

  /** The live login record of an application session id (hashed here), or `undefined`. */
  findSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.repository.findByClientSessionId(hashSessionId(clientSessionId));
  }

  /** Forgets the login record of an application session id (local logout). */
  removeSession(clientSessionId: string): Promise<OidcSessionInfo | undefined> {
    return this.repository.removeByClientSessionId(hashSessionId(clientSessionId));
  }

  /** Where the guard sends HTML requests whose session has ended (the `loginUrl` option). */
  get loginUrl(): string | undefined {
    return this.options.loginUrl;
  }

  /** The registration with that id. @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION`. */
  getRegistration(registrationId: string): ResolvedClientRegistration {
    const registration = this.options.clients.find((c) => c.registrationId === registrationId);
    if (!registration) {
      throw new OidcLogoutError(
        'ERR_UNKNOWN_REGISTRATION',
        `No client registration "${registrationId.slice(0, 64)}"`,
      );
    }
    return registration;
  }

  private registrationsFor(target: RevokeTarget): readonly ResolvedClientRegistration[] {
    if (target.registrationId !== undefined) return [this.getRegistration(target.registrationId)];
    const registrations = this.options.clients.filter((c) => c.issuer === target.issuer);
    if (registrations.length === 0) {
      throw new OidcLogoutError(
        'ERR_UNKNOWN_REGISTRATION',
        'No client registration has that issuer',
      );
    }
    return registrations;
  }

  /** The registration whose issuer and client id match the (not yet verified) token's iss and aud. */
  private registrationForToken(idToken: string): ResolvedClientRegistration {
    let claims: { iss?: unknown; aud?: unknown };
    try {
      claims = decodeJwt(idToken);
    } catch (error) {
      throw new OidcLogoutError('ERR_ID_TOKEN_INVALID', 'ID token rejected: not a JWT', {
        cause: error,
      });
    }
    const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    const registration = this.options.clients.find(
      (c) => c.issuer === claims.iss && audiences.includes(c.clientId),
    );
    if (!registration) {
      throw new OidcLogoutError(
        'ERR_UNKNOWN_REGISTRATION',
        'No client registration matches the ID token (its iss and aud)',
      );
    }
    return registration;
  }
}
