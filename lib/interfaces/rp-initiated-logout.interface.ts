import type { OidcSessionInfo } from './oidc-session-info.interface';

/**
 * How the browser is sent to the OP's `end_session_endpoint`: `'GET'`, a 302 redirect with the
 * parameters in the query (the default), or `'POST'`, an auto-submitting HTML form (keeps the ID token
 * out of URLs, server logs and the browser history; RP-Initiated Logout 1.0 section 2 lets OPs
 * support both).
 *
 * @publicApi
 */
export type OidcRpLogoutMethod = 'GET' | 'POST';

/**
 * What {@link LogoutService.endSessionUrl} builds an RP-Initiated Logout request from. Give the
 * `registrationId`, or a recorded `session` (its registration and ID token are used).
 *
 * @publicApi
 */
export interface OidcEndSessionUrlOptions {
  /** The registration whose OP the user logs out of. */
  registrationId?: string;
  /** A recorded login (e.g. from `LogoutService.findSession`): its registration and ID token. */
  session?: Pick<OidcSessionInfo, 'registrationId' | 'idToken'>;
  /** `id_token_hint`; default the session's ID token. An expired token is fine (and expected). */
  idTokenHint?: string;
  /** `state`, returned by the OP on the redirect to the post-logout redirect URI. */
  state?: string;
  /**
   * `post_logout_redirect_uri`; default the registration's `postLogoutRedirectUri`. Sent exactly as
   * given: the OP compares it with the registered value character for character.
   */
  postLogoutRedirectUri?: string;
  /** `ui_locales`: BCP47 language tags, preferred first (an array is joined with spaces). */
  uiLocales?: string | readonly string[];
  /** `logout_hint`: which user to log out, when the OP supports it. */
  logoutHint?: string;
}

/**
 * Options of {@link LogoutService.logout}.
 *
 * @publicApi
 */
export interface OidcRpLogoutOptions {
  /** Default: the module's `rpLogoutMethod` option (itself `'GET'` by default). */
  method?: OidcRpLogoutMethod;
  /** `ui_locales` for the OP's logout pages. */
  uiLocales?: string | readonly string[];
  /** `logout_hint` for the OP. */
  logoutHint?: string;
}

/**
 * What {@link LogoutService.logout} did. In every case the local session is gone: its login record
 * removed (unless the store failed) and the application session destroyed.
 *
 * - `'end-session'`: the browser was sent to the OP's `end_session_endpoint` (302, or the
 *   auto-submitting form);
 * - `'landing'`: straight to `postLogoutLandingUrl` (302): the session had no recorded login, or its
 *   OP has no `end_session_endpoint` (Google);
 * - `'failed'`: the session store or the OP's metadata could not be reached: an error page (503 /
 *   502) told the user that the logout at the OP did not happen.
 *
 * @publicApi
 */
export interface OidcRpLogoutResult {
  outcome: 'end-session' | 'landing' | 'failed';
  /** The login record removed, when there was one. */
  session?: OidcSessionInfo;
  /** The `state` sent to the OP (and kept in the state cookie), when one was sent. */
  state?: string;
}
