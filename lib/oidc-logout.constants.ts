/** Metadata key set by `@SkipOidcSession()`. */
export const SKIP_OIDC_SESSION_KEY = 'nest-oidc-logout:skip-session';

/** Defaults of {@link OidcLogoutModuleOptions}. */
export const DEFAULT_ROUTES = {
  logout: '/logout',
  logoutCallback: '/logout/callback',
  backChannel: '/logout/connect/back-channel',
  frontChannel: '/logout/connect/front-channel',
} as const;

export const DEFAULT_POST_LOGOUT_LANDING_URL = '/';
export const DEFAULT_CLOCK_TOLERANCE_SECONDS = 30;
export const DEFAULT_SESSION_TTL_SECONDS = 86_400;
export const DEFAULT_IN_MEMORY_MAX_ENTRIES = 10_000;
export const DEFAULT_CLEANUP_INTERVAL_SECONDS = 300;
export const DEFAULT_HTTP_TIMEOUT_MS = 5_000;
/** Longest wait for one answer of the session store (guard lookup, logout, login record). */
export const DEFAULT_STORE_TIMEOUT_MS = 3_000;
/** Minimum pause between two failed discovery attempts of one registration. */
export const DISCOVERY_RETRY_INTERVAL_MS = 5_000;
/** The `events` member that marks a back-channel logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/**
 * How long a logout is remembered for logins recorded late (the OP's logout reached the app before
 * the login callback finished): such a login is refused at once.
 */
export const LOGOUT_TOMBSTONE_TTL_SECONDS = 600;
/**
 * Legacy logout tokens (no `exp`: Keycloak <= 23.0.3, Ory Hydra 2.2, Authentik < 2025.8.2): the
 * oldest `iat` accepted, in seconds, plus the clock tolerance. OPs send logout tokens at once; the
 * modern versions of these OPs give them a 120 s lifetime (`exp = iat + 120`). 300 s leaves room for
 * OPs that send from a background queue (Authentik's workers) without keeping a captured token
 * usable for long; a replay inside the window is caught by the `jti` store.
 */
export const LEGACY_LOGOUT_TOKEN_MAX_AGE_SECONDS = 300;
