import { Logger } from '@nestjs/common';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { OidcDiscoveryService } from '../services/oidc-discovery.service';
import type { ResolvedOidcLoginStrategyOptions } from './oidc-login.options';
import { shouldUsePkce } from './pkce';
import type { OidcTokenEndpointAuthMethod } from './token-request';

/** Where a login goes at the OP, as discovered (or configured). @internal */
export interface LoginEndpoints {
  authorizationEndpoint: string;
  tokenEndpoint: string;
  pkce: boolean;
  /**
   * The OP announces `authorization_response_iss_parameter_supported: true` (RFC 9207): its
   * authorization responses must carry `iss`.
   */
  issParameterRequired: boolean;
}

/**
 * The login endpoints of one registration, looked up at each attempt (discovery caches them), so that
 * an OP down at startup only fails the logins made while it is down.
 *
 * @internal
 */
export class OidcLoginEndpoints {
  private readonly logger = new Logger('OidcLogin');
  private pkceWarned = false;

  constructor(
    private readonly options: ResolvedOidcLoginStrategyOptions,
    private readonly registration: ResolvedClientRegistration,
    private readonly discovery: OidcDiscoveryService,
    private readonly authMethod: OidcTokenEndpointAuthMethod,
  ) {}

  /** The options' endpoints, else discovery's. @throws OidcLogoutError `ERR_DISCOVERY_FAILED`. */
  async current(): Promise<LoginEndpoints> {
    const { registration, options } = this;
    const metadata = await this.discovery.getMetadata(registration);
    const authorizationEndpoint = options.authorizationEndpoint ?? metadata.authorizationEndpoint;
    const tokenEndpoint = options.tokenEndpoint ?? metadata.tokenEndpoint;
    if (!authorizationEndpoint || !tokenEndpoint) {
      throw new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registration.registrationId}": the OP's authorization_endpoint or token_endpoint is unknown (no discovery document announces it). Fix: set authorizationEndpoint and tokenEndpoint in createOidcLoginStrategyProvider's options`,
      );
    }
    const pkce = shouldUsePkce(options.pkce, metadata.codeChallengeMethodsSupported);
    if (!pkce && options.pkce) this.withoutPkce();
    return {
      authorizationEndpoint,
      tokenEndpoint,
      pkce,
      issParameterRequired: metadata.authorizationResponseIssParameterSupported === true,
    };
  }

  /**
   * The OP announces PKCE methods without S256: a confidential client logs in without PKCE (warned
   * once), a public client cannot log in at all.
   */
  private withoutPkce(): void {
    const { registrationId } = this.registration;
    if (this.authMethod === 'none') {
      throw new OidcLogoutError(
        'ERR_DISCOVERY_FAILED',
        `Registration "${registrationId}": a public client (no clientSecret) needs PKCE S256, which the OP does not announce. Fix: enable S256 at the OP, or give the registration a clientSecret`,
      );
    }
    if (!this.pkceWarned) {
      this.pkceWarned = true;
      this.logger.warn(
        `Registration "${registrationId}": the OP announces code_challenge_methods_supported without S256; logging in without PKCE`,
      );
    }
  }
}

/**
 * RFC 9207 on a callback (a request with `code` or `error`): its `iss` parameter, when present, must
 * be exactly the registration's issuer, and it must be present when the OP announces that it sends
 * it (mix-up defence). Returns why the callback is refused, or `undefined`. Checked before `state` is
 * consumed and before any code exchange.
 *
 * @internal
 */
export function authorizationResponseRefusal(
  request: object,
  endpoints: LoginEndpoints,
  issuer: string,
): string | undefined {
  const query = (request as { query?: Record<string, unknown> }).query ?? {};
  if (!query.code && !query.error) return undefined;
  if (query.iss === undefined) {
    return endpoints.issParameterRequired
      ? 'The authorization response has no iss parameter, which the OP announces (RFC 9207)'
      : undefined;
  }
  return query.iss === issuer
    ? undefined
    : "The authorization response's iss parameter is not the registration's issuer (RFC 9207)";
}
