import type { OidcSessionInfo } from './oidc-session-info.interface';

/**
 * How a revocation reached the application.
 *
 * @publicApi
 */
export type OidcLogoutChannel = 'back-channel' | 'front-channel' | 'rp-initiated' | 'api';

/**
 * Sent to `onRevocation` listeners after every revocation, once the sessions are gone: the place to
 * drop refresh tokens, notify websockets, audit. A listener's failure is logged and changes nothing.
 *
 * @publicApi
 */
export interface OidcRevocationEvent {
  channel: OidcLogoutChannel;
  registrationId: string;
  issuer: string;
  clientId: string;
  /**
   * The OP session the logout named, if any, in clear (the `sid` of the logout token or of the
   * front-channel request). The `sid` of each of `sessions` is its digest (`hashSid`), as stored.
   */
  sid?: string;
  /** The user the logout named, if any. */
  sub?: string;
  /**
   * The sessions removed (empty when none was left: the logout is still a success), as stored: their
   * `sid` is the digest (`hashSid`).
   */
  sessions: OidcSessionInfo[];
  /**
   * Keycloak's `revoke_offline_access` flag of the logout token: the OP asks the client to revoke
   * offline (refresh) tokens of the user too. Always `false` for other channels.
   */
  revokeOfflineAccess: boolean;
}
