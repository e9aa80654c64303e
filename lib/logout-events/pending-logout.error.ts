import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';

/**
 * The store was unavailable for a verified back-channel logout: it was not applied now. `queued`
 * tells whether it is kept and applied later by {@link PendingLogouts} (`false`: the queue was
 * full). Its `code` is `ERR_REPOSITORY_UNAVAILABLE`, like any store failure.
 *
 * @internal
 */
export class PendingLogoutError extends OidcSessionRepositoryError {
  constructor(
    readonly queued: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      queued
        ? 'The session repository is unavailable: the verified logout is kept and applied when it is back'
        : 'The session repository is unavailable and too many logouts are pending: the logout was not applied',
      options,
    );
  }
}
