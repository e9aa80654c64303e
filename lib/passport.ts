/**
 * `nest-oidc-logout/passport`: the OpenID Connect login with `@nestjs/passport` and
 * `passport-openidconnect` (optional peer dependencies, loaded when the login is first used). The
 * root entry `nest-oidc-logout` never loads them.
 *
 * @packageDocumentation
 */
export { createOidcLoginStrategyProvider } from './login/oidc-login.strategy';
// The async form of createOidcLoginStrategyProvider is added here at merge.
export { OidcLoginGuard, type OidcLoginGuardInstance } from './login/oidc-login.guard';
export type {
  OidcLogin,
  OidcLoginStrategyOptions,
  OidcLoginUser,
} from './login/oidc-login.options';
export type { OidcTokenEndpointAuthMethod } from './login/token-request';
