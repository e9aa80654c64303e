/**
 * The option checks of URLs: the OP's and the app's absolute URLs, and the landing pages.
 *
 * @internal
 */

import { describeValue } from './describe-value';
import type { Problems } from './option-checks';
import { hasWhitespaceOrControl, isLoopbackHost, parseHttpUrl } from './url-rules';

export interface UrlRules {
  /** An example for the fix. */
  example: string;
  /** Whether a `?query` is allowed. */
  query: boolean;
  /** Whether plain http to a non-loopback host is refused when `NODE_ENV` is `production`. */
  httpsInProduction: boolean;
}

/** Checks an absolute http(s) URL without fragment or credentials; true when it is valid. */
export function checkAbsoluteUrl(
  problems: Problems,
  path: string,
  value: unknown,
  rules: UrlRules,
  production: boolean,
): value is string {
  if (typeof value !== 'string') {
    problems.add(
      path,
      'must be a string holding an absolute URL',
      describeValue(value),
      `use e.g. "${rules.example}"`,
    );
    return false;
  }
  const found = absoluteUrlProblem(value, rules, production);
  if (found) {
    problems.add(path, found.problem, describeValue(value), found.fix);
    return false;
  }
  return true;
}

/** What makes a string not a valid absolute URL under `rules`, with its fix; the first found. */
function absoluteUrlProblem(
  value: string,
  rules: UrlRules,
  production: boolean,
): { problem: string; fix: string } | undefined {
  if (hasWhitespaceOrControl(value)) {
    return { problem: 'must not contain whitespace or control characters', fix: 'remove them' };
  }
  const url = parseHttpUrl(value);
  if (!url) {
    return {
      problem: 'must be an absolute http(s) URL',
      fix: `use a full URL with scheme and host, e.g. "${rules.example}"`,
    };
  }
  if (url.username !== '' || url.password !== '') {
    return {
      problem: 'must not contain credentials (user:password@)',
      fix: 'remove them from the URL',
    };
  }
  const queryOrFragment = queryOrFragmentProblem(value, rules.query);
  if (queryOrFragment) {
    return queryOrFragment;
  }
  if (
    rules.httpsInProduction &&
    production &&
    url.protocol === 'http:' &&
    !isLoopbackHost(url.hostname)
  ) {
    return {
      problem: 'must use https when NODE_ENV is "production"',
      fix: 'use https:// (plain http is accepted only for localhost, 127.0.0.1 and [::1], or outside production)',
    };
  }
  return undefined;
}

/** A fragment (never allowed) or a query (unless `queryAllowed`), with its fix. */
function queryOrFragmentProblem(
  value: string,
  queryAllowed: boolean,
): { problem: string; fix: string } | undefined {
  const hash = value.indexOf('#');
  const question = queryAllowed ? -1 : value.indexOf('?');
  if (question >= 0 && (hash < 0 || question < hash)) {
    return {
      problem: hash >= 0 ? 'must not have a query or a fragment' : 'must not have a query',
      fix: `remove everything from "?": ${describeValue(value.slice(0, question))}`,
    };
  }
  if (hash >= 0) {
    return {
      problem: 'must not have a fragment',
      fix: `remove everything from "#": ${describeValue(value.slice(0, hash))}`,
    };
  }
  return undefined;
}

/** `postLogoutLandingUrl` and `loginUrl`: a local path or an absolute http(s) URL. */
export function checkLandingUrl(problems: Problems, path: string, value: unknown): value is string {
  const fix =
    'use a local path with a single leading "/" such as "/home", or an absolute http(s) URL without fragment';
  if (typeof value !== 'string') {
    problems.add(path, 'must be a string', describeValue(value), fix);
    return false;
  }
  const shown = describeValue(value);
  if (hasWhitespaceOrControl(value)) {
    problems.add(path, 'must not contain whitespace or control characters', shown, fix);
    return false;
  }
  if (value.includes('\\')) {
    problems.add(
      path,
      'must not contain "\\" (browsers read it as "/", an open redirect)',
      shown,
      fix,
    );
    return false;
  }
  if (value.startsWith('//')) {
    problems.add(
      path,
      'must not start with "//" (a protocol-relative URL is an open redirect)',
      shown,
      fix,
    );
    return false;
  }
  if (value.startsWith('/')) {
    return true;
  }
  if (!parseHttpUrl(value)) {
    problems.add(
      path,
      'must be a local path starting with "/" or an absolute http(s) URL',
      shown,
      fix,
    );
    return false;
  }
  return checkAbsoluteUrl(
    problems,
    path,
    value,
    { example: 'https://app.example.com/home', query: true, httpsInProduction: false },
    false,
  );
}
