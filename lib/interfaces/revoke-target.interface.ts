/**
 * What {@link LogoutService.revoke} ends: the OP session `sid`, or every session of `sub`, of one
 * registration (`registrationId`) or of every registration of one OP (`issuer`).
 *
 * @publicApi
 */
export type RevokeTarget = (
  { registrationId: string; issuer?: never } | { issuer: string; registrationId?: never }
) & { sid?: string; sub?: string };

/**
 * Options of {@link LogoutService.recordLogin}.
 *
 * @publicApi
 */
export interface RecordLoginOptions {
  /** The registration that logged the user in. Default: found from the token's `iss` and `aud`. */
  registrationId?: string;
}
