import { OidcLogoutError } from './oidc-logout.error';

/** A registration as the messages name it. */
interface NamedRegistration {
  readonly registrationId: string;
  readonly issuer?: string;
  readonly clientId?: string;
}

/** Registrations named in one message, at most: the rest are counted. */
const MAX_LISTED = 20;

/**
 * The registrations that exist, for an error message: `the registrations are "main", "picky"`, with
 * their issuer and client id when `detailed`. @internal
 */
export function describeRegistrations(
  clients: readonly NamedRegistration[],
  detailed = false,
): string {
  if (clients.length === 0) return 'OidcLogoutModule has no client registration';
  const named = clients.slice(0, MAX_LISTED).map((client) => {
    const id = JSON.stringify(client.registrationId);
    return detailed ? `${id} (issuer ${client.issuer}, clientId ${client.clientId})` : id;
  });
  const more = clients.length > MAX_LISTED ? ` and ${clients.length - MAX_LISTED} more` : '';
  return `${clients.length === 1 ? 'the registration is' : 'the registrations are'} ${named.join(', ')}${more}`;
}

/**
 * An `ERR_UNKNOWN_REGISTRATION` whose message (for logs and callers) lists the registrations that
 * exist and says how to fix it, while the HTTP body of the 400 it becomes at the edge keeps only
 * `problem`: who sends the request (possibly with a token of their own making) learns nothing of the
 * configuration.
 *
 * @internal
 */
export function unknownRegistrationError(
  problem: string,
  clients: readonly NamedRegistration[],
  fix: string,
  detailed = false,
): OidcLogoutError {
  const error = new OidcLogoutError('ERR_UNKNOWN_REGISTRATION', problem);
  error.message = `${problem}; ${describeRegistrations(clients, detailed)}. Fix: ${fix}`;
  return error;
}

/** `No client registration "<id>"`, listing the ones that exist. @internal */
export function noSuchRegistrationError(
  registrationId: string,
  clients: readonly NamedRegistration[],
): OidcLogoutError {
  const id = JSON.stringify(registrationId.slice(0, 64));
  return unknownRegistrationError(
    `No client registration ${id}`,
    clients,
    `use one of them, or add a client with registrationId ${id} to OidcLogoutModule's clients`,
  );
}
