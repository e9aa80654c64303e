import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OidcLogoutModuleOptions } from './interfaces/oidc-logout-module-options.interface';

/** Graph-changing options that are not part of {@link OidcLogoutModuleOptions}. @publicApi */
export interface OidcLogoutModuleExtras {
  /** Register the module globally, so that the guard and `LogoutService` are injectable anywhere. */
  isGlobal?: boolean;
}

const definition = new ConfigurableModuleBuilder<OidcLogoutModuleOptions>({
  moduleName: 'OidcLogout',
})
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createOidcLogoutOptions')
  .setExtras<OidcLogoutModuleExtras>({ isGlobal: false }, (module, extras) => ({
    ...module,
    global: extras.isGlobal === true,
  }))
  .build();

/**
 * The base class of `OidcLogoutModule`, with `forRoot` and `forRootAsync`. Not exported by the package's
 * entries, but declared in its types: `OidcLogoutModule` extends it.
 */
export const ConfigurableModuleClass = definition.ConfigurableModuleClass;

/**
 * Injection token of the options given to `forRoot` / `forRootAsync`, as given (before validation and
 * defaults).
 *
 * @publicApi
 */
export const OIDC_LOGOUT_MODULE_OPTIONS = definition.MODULE_OPTIONS_TOKEN;

/** Injection token of the validated options with defaults applied. @internal */
export const OIDC_LOGOUT_RESOLVED_OPTIONS = Symbol('OIDC_LOGOUT_RESOLVED_OPTIONS');
