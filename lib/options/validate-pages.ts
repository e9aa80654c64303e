import type { OidcRpLogoutMethod } from '../interfaces/rp-initiated-logout.interface';
import { DEFAULT_POST_LOGOUT_LANDING_URL } from '../oidc-logout.constants';
import { checkLandingUrl, describeValue, Problems } from './option-checks';
import type { ResolvedOidcLogoutOptions } from './resolved-oidc-logout-options';

/** The pages a browser is sent to: `postLogoutLandingUrl`, `loginUrl`, and `rpLogoutMethod`. */
export function validatePages(
  problems: Problems,
  raw: Record<string, unknown>,
): Pick<ResolvedOidcLogoutOptions, 'postLogoutLandingUrl' | 'rpLogoutMethod'> & {
  loginUrl: unknown;
} {
  let postLogoutLandingUrl = DEFAULT_POST_LOGOUT_LANDING_URL;
  if (
    raw.postLogoutLandingUrl !== undefined &&
    checkLandingUrl(problems, 'postLogoutLandingUrl', raw.postLogoutLandingUrl)
  ) {
    postLogoutLandingUrl = raw.postLogoutLandingUrl;
  }
  const loginUrl = raw.loginUrl;
  if (loginUrl !== undefined) {
    checkLandingUrl(problems, 'loginUrl', loginUrl);
  }
  const rpLogoutMethod = validateRpLogoutMethod(problems, raw.rpLogoutMethod);
  return { postLogoutLandingUrl, loginUrl, rpLogoutMethod };
}

const RP_LOGOUT_METHODS = ['GET', 'POST'] as const satisfies readonly OidcRpLogoutMethod[];

/** `rpLogoutMethod`: exactly 'GET' or 'POST' (the HTTP method names, upper case). */
function validateRpLogoutMethod(problems: Problems, value: unknown): OidcRpLogoutMethod {
  if (value === undefined) {
    return 'GET';
  }
  if (typeof value === 'string' && (RP_LOGOUT_METHODS as readonly string[]).includes(value)) {
    return value as OidcRpLogoutMethod;
  }
  const upper = typeof value === 'string' ? value.trim().toUpperCase() : undefined;
  problems.add(
    'rpLogoutMethod',
    "must be 'GET' or 'POST'",
    describeValue(value),
    upper === 'GET' || upper === 'POST'
      ? `use '${upper}' (upper case, no spaces)`
      : "use 'GET' (a redirect, the default) or 'POST' (an auto-submitting form), or omit it",
  );
  return 'GET';
}
