import type { ModuleRef } from '@nestjs/core';
import { describe, expect, it } from 'vitest';
import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import type { ResolvedOidcLogoutOptions } from '../options/resolved-oidc-logout-options';
import type { OidcLoginStrategyOptions } from './oidc-login.options';
import {
  createOidcLoginStrategyProvider,
  createOidcLoginStrategyProviderAsync,
} from './oidc-login.strategy';

const moduleOptions = {
  clients: [
    { registrationId: 'main', issuer: 'https://op.example', clientId: 'app' },
    { registrationId: 'picky', issuer: 'https://op.example', clientId: 'picky', clientSecret: 's' },
  ],
} as unknown as ResolvedOidcLogoutOptions;

const options: OidcLoginStrategyOptions = {
  registrationId: 'keycloak',
  callbackURL: 'https://app.example/login/callback',
};

/** Runs a provider's factory with the module's side of its injections (none is reached here). */
function build(
  provider: ReturnType<typeof createOidcLoginStrategyProvider>,
  own: unknown[],
): unknown {
  const ownInjections = [undefined, undefined, moduleOptions];
  return (provider.useFactory as (...args: unknown[]) => unknown)(...own, ...ownInjections);
}

async function startupError(run: () => unknown): Promise<string> {
  try {
    await run();
  } catch (error) {
    expect(error).toBeInstanceOf(OidcLogoutOptionsError);
    return (error as Error).message;
  }
  throw new Error('expected the strategy to be refused');
}

describe('the login strategy provider at startup', () => {
  it('an unknown registration lists those that exist, with the fix', async () => {
    const message = await startupError(() => build(createOidcLoginStrategyProvider(options), []));
    expect(message).toBe(
      'createOidcLoginStrategyProvider options are invalid:\n' +
        '  - registrationId: no client registration "keycloak" (the registrations are "main", ' +
        '"picky"). Fix: use one of them, or add a client with registrationId "keycloak" to ' +
        "OidcLogoutModule's clients.",
    );
  });

  it('a token endpoint authentication that needs the missing clientSecret says so, with the fix', async () => {
    const provider = createOidcLoginStrategyProvider({
      ...options,
      registrationId: 'main',
      tokenEndpointAuthMethod: 'client_secret_post',
    });
    const message = await startupError(() => build(provider, []));
    expect(message).toContain(
      '  - tokenEndpointAuthMethod: "client_secret_post" needs the clientSecret of registration "main"',
    );
    expect(message).toContain('Fix: set clientSecret on the client "main" of OidcLogoutModule');
  });

  it('the async form checks the options its factory made, with the same errors', async () => {
    const provider = createOidcLoginStrategyProviderAsync({
      inject: ['CONFIG'],
      useFactory: (config: { callbackURL: string }) =>
        Promise.resolve({ registrationId: 'main', callbackURL: config.callbackURL, pkce: 'no' }),
    } as never);
    expect(provider.inject?.[0]).toBe('CONFIG');
    const message = await startupError(() => build(provider, [{ callbackURL: 'relative' }]));
    expect(message).toContain('  - callbackURL: must be the absolute');
    expect(message).toContain('  - pkce: must be a boolean (got "no")');
  });

  it('the async form takes its options of an existing provider or of a class the module creates', async () => {
    const factory = { createOidcLoginStrategyOptions: () => options };
    const existing = createOidcLoginStrategyProviderAsync({ useExisting: 'FACTORY' });
    expect(existing.inject?.[0]).toBe('FACTORY');
    expect(await startupError(() => build(existing, [factory]))).toContain(
      'no client registration "keycloak"',
    );

    class OptionsFromConfig {
      createOidcLoginStrategyOptions() {
        return Promise.resolve(options);
      }
    }
    const created: unknown[] = [];
    const moduleRef = {
      create: (type: new () => unknown) => {
        created.push(type);
        return Promise.resolve(new type());
      },
    } as unknown as ModuleRef;
    const fromClass = createOidcLoginStrategyProviderAsync({ useClass: OptionsFromConfig });
    expect(await startupError(() => build(fromClass, [moduleRef]))).toContain(
      'no client registration "keycloak"',
    );
    expect(created).toEqual([OptionsFromConfig]);
  });

  it('the async form needs exactly one source of options, said at once with the fix', () => {
    for (const asyncOptions of [
      {},
      { useFactory: () => options, useExisting: 'FACTORY' },
      { useFactory: 'not a function' },
    ]) {
      expect(() => createOidcLoginStrategyProviderAsync(asyncOptions as never)).toThrow(
        /useFactory, useClass, useExisting: exactly one is needed[^]*\. Fix: /,
      );
    }
  });
});
