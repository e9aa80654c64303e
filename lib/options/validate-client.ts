import {
  Problems,
  checkAbsoluteUrl,
  checkBoolean,
  checkKeys,
  checkText,
  describeValue,
  isPlainObject,
} from './option-checks';
import { BACK_CHANNEL_KEYS, CLIENT_KEYS, FRONT_CHANNEL_KEYS } from './option-keys';
import type { ResolvedClientRegistration } from './resolved-oidc-logout-options';
import { validateAlgorithms } from './validate-algorithms';

/** What a `registrationId` may be: it is a URL path segment. @internal */
export const REGISTRATION_ID = /^[A-Za-z0-9._-]{1,64}$/;

/** The option paths of one registration, `clients[0].issuer`. */
type At = (key: string) => string;

/** One client registration (`clients[index]`), resolved; `undefined` when it cannot be. @internal */
export function validateClient(
  problems: Problems,
  index: number,
  raw: unknown,
  legacyDefault: boolean,
  production: boolean,
): ResolvedClientRegistration | undefined {
  const path = `clients[${index}]`;
  if (!isPlainObject(raw)) {
    problems.add(
      path,
      'must be a plain object (a client registration)',
      describeValue(raw),
      'use { registrationId, issuer, clientId, ... }',
    );
    return undefined;
  }
  checkKeys(problems, path, raw, CLIENT_KEYS);
  const at: At = (key) => `${path}.${key}`;
  const { registrationId, issuer, clientId, clientSecret } = raw;
  const idValid = checkRegistrationId(problems, at, registrationId);
  checkIssuer(problems, at, issuer, production);
  checkClientId(problems, at, clientId);
  const hasSecret =
    clientSecret !== undefined &&
    checkText(problems, at('clientSecret'), clientSecret, 'the client secret issued by the OP', {
      secret: true,
    });

  const resolved: ResolvedClientRegistration = {
    registrationId: registrationId as string,
    issuer: issuer as string,
    clientId: clientId as string,
    ...validateChannels(problems, at, raw),
    legacyLogoutTokens: checkBoolean(
      problems,
      at('legacyLogoutTokens'),
      raw.legacyLogoutTokens,
      legacyDefault,
    ),
    discovery: checkBoolean(problems, at('discovery'), raw.discovery, true),
  };
  if (hasSecret) {
    resolved.clientSecret = clientSecret;
  }
  resolveDecryptionKey(problems, at, raw.decryptionKey, resolved);
  const algorithms = validateAlgorithms(problems, at('algorithms'), raw.algorithms, hasSecret);
  if (algorithms) {
    resolved.algorithms = algorithms;
  }
  resolveUrls(problems, at, raw, resolved, production);
  if (resolved.discovery === false && raw.jwksUri === undefined) {
    problems.add(
      at('discovery'),
      'is false but jwksUri is not set, so the signing keys cannot be found',
      'false',
      `set ${at('jwksUri')} to the OP's JWKS URL, or enable discovery`,
    );
  }
  return idValid ? Object.freeze(resolved) : undefined;
}

/** `registrationId`: required, a URL path segment; true when it is valid. */
function checkRegistrationId(problems: Problems, at: At, registrationId: unknown): boolean {
  if (registrationId === undefined) {
    problems.add(
      at('registrationId'),
      'is required',
      undefined,
      'set a unique id such as "main" (it appears in the logout URLs)',
    );
    return false;
  }
  if (typeof registrationId !== 'string' || !REGISTRATION_ID.test(registrationId)) {
    problems.add(
      at('registrationId'),
      'must be 1 to 64 letters, digits, ".", "_" or "-", as it is a URL path segment',
      describeValue(registrationId),
      'use a short id such as "main" or "keycloak-prod"',
    );
    return false;
  }
  return true;
}

/** `issuer`: required, an absolute URL without query (https in production). */
function checkIssuer(problems: Problems, at: At, issuer: unknown, production: boolean): void {
  const issuerExample = 'https://op.example.com/realms/main';
  if (issuer === undefined) {
    problems.add(
      at('issuer'),
      'is required',
      undefined,
      `set the OP's issuer exactly as in its tokens, e.g. "${issuerExample}"`,
    );
    return;
  }
  checkAbsoluteUrl(
    problems,
    at('issuer'),
    issuer,
    { example: issuerExample, query: false, httpsInProduction: true },
    production,
  );
}

/** `clientId`: required text. */
function checkClientId(problems: Problems, at: At, clientId: unknown): void {
  if (clientId === undefined) {
    problems.add(
      at('clientId'),
      'is required',
      undefined,
      'set the client id registered at the OP',
    );
    return;
  }
  checkText(problems, at('clientId'), clientId, 'the client id registered at the OP');
}

/** `backChannel` and `frontChannel`, with their defaults. */
function validateChannels(
  problems: Problems,
  at: At,
  raw: Record<string, unknown>,
): Pick<ResolvedClientRegistration, 'backChannel' | 'frontChannel'> {
  return {
    backChannel: validateChannel(problems, at('backChannel'), raw.backChannel, BACK_CHANNEL_KEYS, {
      sessionRequired: false,
    }),
    frontChannel: validateChannel(
      problems,
      at('frontChannel'),
      raw.frontChannel,
      FRONT_CHANNEL_KEYS,
      {
        sessionRequired: true,
        allowMissingIssuer: false,
      },
    ),
  };
}

/** `decryptionKey`: a key object (never printed); set on `resolved` when it is one. */
function resolveDecryptionKey(
  problems: Problems,
  at: At,
  decryptionKey: unknown,
  resolved: ResolvedClientRegistration,
): void {
  if (decryptionKey === undefined) {
    return;
  }
  if (typeof decryptionKey === 'object' && decryptionKey !== null) {
    resolved.decryptionKey = decryptionKey;
    return;
  }
  problems.add(
    at('decryptionKey'),
    'must be a private JWK, a KeyObject or a CryptoKey',
    '<redacted>',
    'pass the private key matching the encryption key you registered at the OP, or omit it',
  );
}

/** `postLogoutRedirectUri`, `endSessionEndpoint` and `jwksUri`: set on `resolved` when valid. */
function resolveUrls(
  problems: Problems,
  at: At,
  raw: Record<string, unknown>,
  resolved: ResolvedClientRegistration,
  production: boolean,
): void {
  const urls = [
    ['postLogoutRedirectUri', 'https://app.example.com/logout/callback', false],
    ['endSessionEndpoint', 'https://op.example.com/logout', true],
    ['jwksUri', 'https://op.example.com/jwks', true],
  ] as const;
  for (const [key, example, opUrl] of urls) {
    const value = raw[key];
    if (
      value !== undefined &&
      checkAbsoluteUrl(
        problems,
        at(key),
        value,
        { example, query: true, httpsInProduction: opUrl },
        production,
      )
    ) {
      resolved[key] = value;
    }
  }
}

/** A channel option: `false` (disabled), or an object of booleans over the defaults. @internal */
export function validateChannel<K extends string>(
  problems: Problems,
  path: string,
  value: unknown,
  keys: readonly K[],
  defaults: Record<K, boolean>,
): Record<K, boolean> | false {
  if (value === false) {
    return false;
  }
  const shape = `{ ${keys.map((key) => `${key}?: boolean`).join(', ')} }`;
  if (value === undefined) {
    return Object.freeze({ ...defaults });
  }
  if (!isPlainObject(value)) {
    problems.add(
      path,
      `must be false or an object ${shape}`,
      describeValue(value),
      value === true
        ? 'omit it (or use {}) to enable it with the defaults; use false to disable it'
        : `use false to disable it, or ${shape}`,
    );
    return Object.freeze({ ...defaults });
  }
  checkKeys(problems, path, value, keys);
  const resolved = { ...defaults };
  for (const key of keys) {
    resolved[key] = checkBoolean(problems, `${path}.${key}`, value[key], defaults[key]);
  }
  return Object.freeze(resolved);
}
