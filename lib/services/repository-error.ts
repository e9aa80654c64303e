import { OidcLogoutError, OidcSessionRepositoryError } from '../errors/oidc-logout.error';

/**
 * A store failure as the library reports it: an `OidcLogoutError` kept, anything else wrapped.
 *
 * @internal
 */
export function asRepositoryError(error: unknown): OidcLogoutError {
  if (error instanceof OidcLogoutError) return error;
  return new OidcSessionRepositoryError('The session repository failed', { cause: error });
}
