import {
  Problems,
  checkAbsoluteUrl,
  checkBoolean,
  checkKeys,
  checkText,
  describeValue,
  isPlainObject,
  suggestKey,
} from './option-checks';
import { ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHMS } from '../tokens/signing-algorithms';
import type { ResolvedClientRegistration } from './resolved-oidc-logout-options';

import { BACK_CHANNEL_KEYS, CLIENT_KEYS, FRONT_CHANNEL_KEYS } from './option-keys';

/** JWS algorithms a registration may list: the asymmetric ones, then HMAC. `none` is never among them. */
const ALLOWED_ALGORITHMS: readonly string[] = [...ASYMMETRIC_ALGORITHMS, ...SYMMETRIC_ALGORITHMS];

const REGISTRATION_ID = /^[A-Za-z0-9._-]{1,64}$/;

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

export function validateAlgorithms(
  problems: Problems,
  path: string,
  value: unknown,
  hasSecret: boolean,
): readonly string[] | undefined {
  if (value === undefined) {
    return undefined;
  }
  const allowed = ALLOWED_ALGORITHMS.join(', ');
  if (!Array.isArray(value)) {
    problems.add(
      path,
      'must be an array of JWS algorithm names',
      describeValue(value),
      `use e.g. ['RS256'], or omit it to use the OP's advertised algorithms (else RS256)`,
    );
    return undefined;
  }
  if (value.length === 0) {
    problems.add(
      path,
      'must not be empty (no token could ever be verified)',
      '[]',
      `list at least one of ${allowed}, or omit it to use the OP's advertised algorithms`,
    );
    return undefined;
  }
  const seen = new Map<string, number>();
  const list: string[] = [];
  value.forEach((alg: unknown, index) => {
    const itemPath = `${path}[${index}]`;
    if (typeof alg !== 'string') {
      problems.add(itemPath, 'must be a string', describeValue(alg), `use one of ${allowed}`);
      return;
    }
    if (alg.toLowerCase() === 'none') {
      problems.add(
        itemPath,
        '"none" (unsigned tokens) is never accepted: anyone could forge a logout token',
        describeValue(alg),
        'remove it and list the algorithm your OP signs with, e.g. RS256',
      );
      return;
    }
    if (!ALLOWED_ALGORITHMS.includes(alg)) {
      const suggestion = suggestKey(alg, ALLOWED_ALGORITHMS);
      problems.add(
        itemPath,
        suggestion
          ? `is not a supported JWS algorithm (did you mean "${suggestion}"?)`
          : 'is not a supported JWS algorithm',
        describeValue(alg),
        `use one of ${allowed}`,
      );
      return;
    }
    if (SYMMETRIC_ALGORITHMS.has(alg) && !hasSecret) {
      problems.add(
        itemPath,
        `${alg} tokens are keyed with the client secret, but clientSecret is not set`,
        describeValue(alg),
        `set clientSecret on this registration, or remove ${alg}`,
      );
      return;
    }
    const first = seen.get(alg);
    if (first !== undefined) {
      problems.add(
        itemPath,
        `repeats ${path}[${first}]`,
        describeValue(alg),
        'remove the duplicate',
      );
      return;
    }
    seen.set(alg, index);
    list.push(alg);
  });
  return Object.freeze(list);
}

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
  const at = (key: string): string => `${path}.${key}`;

  const { registrationId, issuer, clientId, clientSecret } = raw;
  let idValid = false;
  if (registrationId === undefined) {
    problems.add(
      at('registrationId'),
      'is required',
      undefined,
      'set a unique id such as "main" (it appears in the logout URLs)',
    );
  } else if (typeof registrationId !== 'string' || !REGISTRATION_ID.test(registrationId)) {
    problems.add(
      at('registrationId'),
      'must be 1 to 64 letters, digits, ".", "_" or "-", as it is a URL path segment',
      describeValue(registrationId),
      'use a short id such as "main" or "keycloak-prod"',
    );
  } else {
    idValid = true;
  }

  const issuerExample = 'https://op.example.com/realms/main';
  if (issuer === undefined) {
    problems.add(
      at('issuer'),
      'is required',
      undefined,
      `set the OP's issuer exactly as in its tokens, e.g. "${issuerExample}"`,
    );
  } else {
    checkAbsoluteUrl(
      problems,
      at('issuer'),
      issuer,
      { example: issuerExample, query: false, httpsInProduction: true },
      production,
    );
  }

  if (clientId === undefined) {
    problems.add(
      at('clientId'),
      'is required',
      undefined,
      'set the client id registered at the OP',
    );
  } else {
    checkText(problems, at('clientId'), clientId, 'the client id registered at the OP');
  }

  const hasSecret =
    clientSecret !== undefined &&
    checkText(problems, at('clientSecret'), clientSecret, 'the client secret issued by the OP', {
      secret: true,
    });

  const resolved: ResolvedClientRegistration = {
    registrationId: registrationId as string,
    issuer: issuer as string,
    clientId: clientId as string,
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
  const { decryptionKey } = raw;
  if (decryptionKey !== undefined) {
    if (typeof decryptionKey === 'object' && decryptionKey !== null) {
      resolved.decryptionKey = decryptionKey;
    } else {
      problems.add(
        at('decryptionKey'),
        'must be a private JWK, a KeyObject or a CryptoKey',
        '<redacted>',
        'pass the private key matching the encryption key you registered at the OP, or omit it',
      );
    }
  }
  const algorithms = validateAlgorithms(problems, at('algorithms'), raw.algorithms, hasSecret);
  if (algorithms) {
    resolved.algorithms = algorithms;
  }

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

export function checkUniqueness(problems: Problems, clients: readonly unknown[]): void {
  const ids = new Map<string, number>();
  const pairs = new Map<string, number>();
  clients.forEach((client, index) => {
    if (!isPlainObject(client)) {
      return;
    }
    const { registrationId, issuer, clientId } = client;
    if (typeof registrationId === 'string' && REGISTRATION_ID.test(registrationId)) {
      const key = registrationId.toLowerCase();
      const first = ids.get(key);
      if (first === undefined) {
        ids.set(key, index);
      } else {
        problems.add(
          `clients[${index}].registrationId`,
          `duplicates clients[${first}].registrationId (ids are compared ignoring case, as URL routes are)`,
          describeValue(registrationId),
          'give each registration its own registrationId',
        );
      }
    }
    if (typeof issuer === 'string' && typeof clientId === 'string' && clientId !== '') {
      const key = JSON.stringify([issuer, clientId]);
      const first = pairs.get(key);
      if (first === undefined) {
        pairs.set(key, index);
      } else {
        problems.add(
          `clients[${index}]`,
          `has the same issuer and clientId as clients[${first}], so their tokens could not be told apart`,
          describeValue({ issuer, clientId }),
          'remove the duplicate registration, or fix its issuer or clientId',
        );
      }
    }
  });
}

export function validateClients(
  problems: Problems,
  raw: unknown,
  legacyDefault: boolean,
  production: boolean,
): readonly ResolvedClientRegistration[] {
  const fix =
    'use clients: [{ registrationId: "main", issuer: "https://op.example.com", clientId: "my-app" }]';
  if (raw === undefined) {
    problems.add('clients', 'is required', undefined, fix);
    return Object.freeze([]);
  }
  if (!Array.isArray(raw)) {
    problems.add('clients', 'must be an array of client registrations', describeValue(raw), fix);
    return Object.freeze([]);
  }
  if (raw.length === 0) {
    problems.add('clients', 'must contain at least one client registration', '[]', fix);
    return Object.freeze([]);
  }
  const resolved: ResolvedClientRegistration[] = [];
  for (let index = 0; index < raw.length; index++) {
    const client = validateClient(
      problems,
      index,
      raw[index] as unknown,
      legacyDefault,
      production,
    );
    if (client) {
      resolved.push(client);
    }
  }
  checkUniqueness(problems, raw);
  return Object.freeze(resolved);
}
