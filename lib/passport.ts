/**
 * `nest-oidc-logout/passport`: the OpenID Connect login with `@nestjs/passport` and
 * `passport-openidconnect` (optional peer dependencies, loaded when the login is first used). The
 * root entry `nest-oidc-logout` never loads them.
 *
 * @packageDocumentation
 */
export {
  createOidcLoginStrategyProvider,
  createOidcLoginStrategyProviderAsync,
} from './login/oidc-login.strategy';
export { OidcLoginGuard, type OidcLoginGuardInstance } from './login/oidc-login.guard';
export type {
  OidcLogin,
  OidcLoginStrategyAsyncOptions,
  OidcLoginStrategyOptions,
  OidcLoginStrategyOptionsFactory,
  OidcLoginUser,
} from './login/oidc-login.options';
export type { OidcTokenEndpointAuthMethod } from './login/token-request';
