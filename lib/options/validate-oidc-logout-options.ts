import { isAbsolute } from 'node:path';
import {
  Problems,
  checkBoolean,
  checkKeys,
  checkText,
  describeValue,
  isPlainObject,
} from './option-checks';
import type { ResolvedOidcLogoutOptions } from './resolved-oidc-logout-options';
import { MODULE_KEYS } from './option-keys';
import { validateClients } from './validate-clients';
import { validateNumbers } from './validate-numbers';
import { validatePages } from './validate-pages';
import { validateRoutes } from './validate-routes';
import { validateStores } from './validate-stores';

/** `pendingLogoutJournal`: an absolute path of a file (on a local disk). */
function validateJournalPath(problems: Problems, value: unknown): string | undefined {
  if (value === undefined) return undefined;
  const what = "an absolute file path such as '/var/lib/my-app/oidc-pending-logouts.journal'";
  if (!checkText(problems, 'pendingLogoutJournal', value, what)) return undefined;
  if (!isAbsolute(value) || value.includes('\0') || value.endsWith('/')) {
    problems.add(
      'pendingLogoutJournal',
      'must be an absolute path of a file',
      describeValue(value),
      `use ${what} (resolve a relative one with path.resolve(...)), or omit it`,
    );
    return undefined;
  }
  return value;
}

function checkOnRevocation(problems: Problems, onRevocation: unknown): void {
  if (onRevocation !== undefined && typeof onRevocation !== 'function') {
    problems.add(
      'onRevocation',
      'must be a function',
      describeValue(onRevocation),
      'pass (event) => { ... }, or omit it',
    );
  }
}

/**
 * Validates the options of `OidcLogoutModule` at startup and returns them with every default applied,
 * deeply frozen and sharing no array or plain object with the input (`sessionRepository` and
 * `dataSource` are kept by reference).
 *
 * Every problem is collected; one {@link OidcLogoutOptionsError} (code `ERR_INVALID_OPTIONS`) lists
 * them all, one per line, each naming the option path, the offending value (the client secret is
 * always `<redacted>`) and the fix. Keys set to `undefined` count as absent.
 *
 * URL policy: the OP's URLs (`issuer`, `jwksUri`, `endSessionEndpoint`) must be https when `nodeEnv`
 * is `'production'`, except for loopback hosts (`localhost`, `127.0.0.1`, `[::1]`); outside production
 * http is accepted anywhere, for local OPs and containers. The app's own URLs
 * (`postLogoutRedirectUri`, `postLogoutLandingUrl`, `loginUrl`) may be http: the OP enforces its
 * registration rules for them. No URL may carry a fragment or credentials; the issuer no query.
 * The same transport rule holds for the URLs discovery finds at run time (`requireHttps`).
 *
 * @param raw the options as given by the application (untrusted shape)
 * @param nodeEnv the deployment environment; defaults to `process.env.NODE_ENV`
 * @throws OidcLogoutOptionsError when any option is invalid
 * @internal
 */
export function validateOidcLogoutOptions(
  raw: unknown,
  nodeEnv: string | undefined = process.env.NODE_ENV,
): ResolvedOidcLogoutOptions {
  const problems = new Problems();
  if (!isPlainObject(raw)) {
    problems.add(
      'options',
      'must be a plain object',
      describeValue(raw),
      'pass an object literal such as { clients: [{ registrationId, issuer, clientId }] }',
    );
    throw problems.toError();
  }
  const production = nodeEnv === 'production';
  checkKeys(problems, '', raw, MODULE_KEYS);

  const legacyLogoutTokens = checkBoolean(
    problems,
    'legacyLogoutTokens',
    raw.legacyLogoutTokens,
    false,
  );
  const clients = validateClients(problems, raw.clients, legacyLogoutTokens, production);
  const routes = validateRoutes(problems, raw.routes);
  const { postLogoutLandingUrl, loginUrl, rpLogoutMethod } = validatePages(problems, raw);
  const stores = validateStores(problems, raw);
  const { onRevocation } = raw;
  checkOnRevocation(problems, onRevocation);
  const pendingLogoutJournal = validateJournalPath(problems, raw.pendingLogoutJournal);
  const numbers = validateNumbers(problems, raw);

  if (!problems.empty) {
    throw problems.toError();
  }
  const resolved: ResolvedOidcLogoutOptions = {
    clients,
    routes,
    postLogoutLandingUrl,
    rpLogoutMethod,
    legacyLogoutTokens,
    ...numbers,
    requireHttps: production,
  };
  if (typeof loginUrl === 'string') {
    resolved.loginUrl = loginUrl;
  }
  Object.assign(resolved, stores);
  if (pendingLogoutJournal !== undefined) {
    resolved.pendingLogoutJournal = pendingLogoutJournal;
  }
  if (typeof onRevocation === 'function') {
    resolved.onRevocation = onRevocation as ResolvedOidcLogoutOptions['onRevocation'];
  }
  return Object.freeze(resolved);
}
