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
/** Minimum pause between two failed discovery attempts of one registration. */
export const DISCOVERY_RETRY_INTERVAL_MS = 5_000;
/** The `events` member that marks a back-channel logout token. */
export const BACKCHANNEL_LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
