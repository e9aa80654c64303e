import { Problems, describeValue, isPlainObject } from './option-checks';
import type { ResolvedClientRegistration } from './resolved-oidc-logout-options';
import { REGISTRATION_ID, validateClient } from './validate-client';

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
