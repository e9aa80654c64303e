import { decodeJwt } from 'jose';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { noSuchRegistrationError, unknownRegistrationError } from '../errors/unknown-registration';
import type { RevokeTarget } from '../interfaces/revoke-target.interface';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';

/**
 * The registration with that id.
 *
 * @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION`.
 * @internal
 */
export function registrationById(
  clients: readonly ResolvedClientRegistration[],
  registrationId: string,
): ResolvedClientRegistration {
  const registration = clients.find((c) => c.registrationId === registrationId);
  if (!registration) throw noSuchRegistrationError(registrationId, clients);
  return registration;
}

/**
 * The registration whose issuer and client id match the (not yet verified) ID token's `iss` and
 * `aud`.
 *
 * @throws OidcLogoutError `ERR_ID_TOKEN_INVALID` for what is not a JWT, `ERR_UNKNOWN_REGISTRATION`.
 * @internal
 */
export function registrationForIdToken(
  clients: readonly ResolvedClientRegistration[],
  idToken: string,
): ResolvedClientRegistration {
  let claims: { iss?: unknown; aud?: unknown };
  try {
    claims = decodeJwt(idToken);
  } catch (error) {
    throw new OidcLogoutError('ERR_ID_TOKEN_INVALID', 'ID token rejected: not a JWT', {
      cause: error,
    });
  }
  const audiences = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
  const registration = clients.find(
    (c) => c.issuer === claims.iss && audiences.includes(c.clientId),
  );
  if (!registration) {
    throw unknownRegistrationError(
      'No client registration matches the ID token (its iss and aud)',
      clients,
      "check that the OP's issuer and the token's audience are a registration's issuer and clientId",
      true,
    );
  }
  return registration;
}

/**
 * The registrations a `revoke` target names: the one with its `registrationId`, or every one of its
 * `issuer`.
 *
 * @throws OidcLogoutError `ERR_UNKNOWN_REGISTRATION` when none does.
 * @internal
 */
export function registrationsForTarget(
  clients: readonly ResolvedClientRegistration[],
  target: RevokeTarget,
): readonly ResolvedClientRegistration[] {
  if (target.registrationId !== undefined)
    return [registrationById(clients, target.registrationId)];
  const registrations = clients.filter((c) => c.issuer === target.issuer);
  if (registrations.length === 0) {
    throw unknownRegistrationError(
      'No client registration has that issuer',
      clients,
      "give the issuer exactly as a registration's issuer, or a registrationId",
      true,
    );
  }
  return registrations;
}
