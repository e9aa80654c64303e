import { ConfigurableModuleBuilder } from '@nestjs/common';
import type { OidcLogoutModuleOptions } from './interfaces/oidc-logout-module-options.interface';

/** Graph-changing options that are not part of {@link OidcLogoutModuleOptions}. @publicApi */
export interface OidcLogoutModuleExtras {
  /** Register the module globally, so that the guard and `LogoutService` are injectable anywhere. */
  isGlobal?: boolean;
}

export const {
  ConfigurableModuleClass,
  MODULE_OPTIONS_TOKEN: OIDC_LOGOUT_MODULE_OPTIONS,
  OPTIONS_TYPE,
  ASYNC_OPTIONS_TYPE,
} = new ConfigurableModuleBuilder<OidcLogoutModuleOptions>({ moduleName: 'OidcLogout' })
  .setClassMethodName('forRoot')
  .setFactoryMethodName('createOidcLogoutOptions')
  .setExtras<OidcLogoutModuleExtras>({ isGlobal: false }, (definition, extras) => ({
    ...definition,
    global: extras.isGlobal === true,
  }))
  .build();

/** Injection token of the validated options with defaults applied. @internal */
export const OIDC_LOGOUT_RESOLVED_OPTIONS = Symbol('OIDC_LOGOUT_RESOLVED_OPTIONS');
