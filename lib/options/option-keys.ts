import type {
  OidcBackChannelOptions,
  OidcClientRegistration,
  OidcFrontChannelOptions,
  OidcLogoutModuleOptions,
  OidcLogoutRoutes,
} from '../interfaces/oidc-logout-module-options.interface';

/** Known keys, checked against the interfaces at compile time so that they never drift. */
export const MODULE_KEYS = [
  'clients',
  'routes',
  'postLogoutLandingUrl',
  'loginUrl',
  'rpLogoutMethod',
  'sessionRepository',
  'logoutEventStore',
  'dataSource',
  'typeOrmRepository',
  'clockToleranceSeconds',
  'legacyLogoutTokens',
  'sessionTtlSeconds',
  'inMemoryMaxEntries',
  'cleanupIntervalSeconds',
  'httpTimeoutMs',
  'storeTimeoutMs',
  'pendingLogoutJournal',
  'onRevocation',
] as const satisfies readonly (keyof OidcLogoutModuleOptions)[];
export const CLIENT_KEYS = [
  'registrationId',
  'issuer',
  'clientId',
  'clientSecret',
  'postLogoutRedirectUri',
  'backChannel',
  'frontChannel',
  'algorithms',
  'legacyLogoutTokens',
  'discovery',
  'endSessionEndpoint',
  'jwksUri',
  'decryptionKey',
] as const satisfies readonly (keyof OidcClientRegistration)[];
export const ROUTE_KEYS = [
  'logout',
  'logoutCallback',
  'backChannel',
  'frontChannel',
] as const satisfies readonly (keyof OidcLogoutRoutes)[];
export const BACK_CHANNEL_KEYS = [
  'sessionRequired',
] as const satisfies readonly (keyof OidcBackChannelOptions)[];
export const FRONT_CHANNEL_KEYS = [
  'sessionRequired',
  'allowMissingIssuer',
] as const satisfies readonly (keyof OidcFrontChannelOptions)[];

type Exhaustive<All, Listed> = [Exclude<All, Listed>] extends [never] ? true : never;
const _keyListsAreComplete: [
  Exhaustive<keyof OidcLogoutModuleOptions, (typeof MODULE_KEYS)[number]>,
  Exhaustive<keyof OidcClientRegistration, (typeof CLIENT_KEYS)[number]>,
  Exhaustive<keyof OidcLogoutRoutes, (typeof ROUTE_KEYS)[number]>,
  Exhaustive<keyof OidcBackChannelOptions, (typeof BACK_CHANNEL_KEYS)[number]>,
  Exhaustive<keyof OidcFrontChannelOptions, (typeof FRONT_CHANNEL_KEYS)[number]>,
] = [true, true, true, true, true];
