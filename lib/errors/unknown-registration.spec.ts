import { describe, expect, it } from 'vitest';
import {
  describeRegistrations,
  noSuchRegistrationError,
  unknownRegistrationError,
} from './unknown-registration';

const clients = [
  { registrationId: 'main', issuer: 'https://op.example', clientId: 'app' },
  { registrationId: 'picky', issuer: 'https://op.example', clientId: 'picky-app' },
];

describe('unknown registration errors', () => {
  it('No client registration "keycloak" lists the registrations that exist and the fix', () => {
    const error = noSuchRegistrationError('keycloak', clients);
    expect(error.code).toBe('ERR_UNKNOWN_REGISTRATION');
    expect(error.message).toBe(
      'No client registration "keycloak"; the registrations are "main", "picky". Fix: use one of ' +
        'them, or add a client with registrationId "keycloak" to OidcLogoutModule\'s clients',
    );
  });

  it('keeps the list out of the HTTP body of the 400', () => {
    const error = noSuchRegistrationError('keycloak', clients);
    expect(error.getStatus()).toBe(400);
    expect(error.getResponse()).toEqual({
      statusCode: 400,
      error: 'ERR_UNKNOWN_REGISTRATION',
      message: 'No client registration "keycloak"',
    });
  });

  it('names issuer and client id when asked, says when there is none, and bounds the list', () => {
    expect(unknownRegistrationError('No match', clients.slice(0, 1), 'fix it', true).message).toBe(
      'No match; the registration is "main" (issuer https://op.example, clientId app). Fix: fix it',
    );
    expect(describeRegistrations([])).toBe('OidcLogoutModule has no client registration');
    const many = Array.from({ length: 25 }, (_, i) => ({ registrationId: `r${i}` }));
    const listed = describeRegistrations(many);
    expect(listed).toContain('"r19" and 5 more');
    expect(listed).not.toContain('"r20"');
  });

  it('quotes an id with quotes or control characters as JSON, cut to 64 characters', () => {
    const error = noSuchRegistrationError(`a"b\n${'x'.repeat(100)}`, clients);
    expect(error.message.split('\n')).toHaveLength(1);
    expect(error.message).toContain('"a\\"b\\n');
    expect(error.message).not.toContain('x'.repeat(63));
  });
});
