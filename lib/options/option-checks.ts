/**
 * Small, pure helpers used by the startup validation of the module options.
 *
 * @internal
 */

import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';

/** Longest rendering of an offending value in an error message. */
const MAX_VALUE_LENGTH = 100;

/** Keys whose values are never printed, wherever they appear inside a described value. */
const SENSITIVE_KEY = /secret|passw|credential|private.?key|api.?key/i;

/** Printed instead of a value that must not appear in logs. */
export const REDACTED = '<redacted>';

/** True for `{}` literals and `Object.create(null)`: not arrays, class instances, dates or maps. */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    return false;
  }
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

/** Appends a property to an option path: `clients[0]` + `issuer` -> `clients[0].issuer`. */
export function appendKey(path: string, key: string): string {
  if (/^[A-Za-z_$][\w$]*$/.test(key)) {
    return path === '' ? key : `${path}.${key}`;
  }
  return `${path}[${JSON.stringify(key)}]`;
}

/** Replaces the `user:password@` part of URL-like strings so that credentials are never printed. */
function redactUserInfo(text: string): string {
  return text.replace(/(\/\/)[^/?#@\s]*@/g, `$1${REDACTED}@`);
}

function describeFunction(fn: { readonly name: string }): string {
  const source = Function.prototype.toString.call(fn);
  const kind = source.startsWith('class') ? 'class' : 'function';
  return fn.name ? `[${kind} ${fn.name}]` : `[anonymous ${kind}]`;
}

function constructorName(value: object): string {
  const proto: unknown = Object.getPrototypeOf(value);
  if (typeof proto === 'object' && proto !== null && 'constructor' in proto) {
    const ctor: unknown = proto.constructor;
    if (typeof ctor === 'function' && ctor.name) {
      return ctor.name;
    }
  }
  return 'Object';
}

function jsonReplacer(this: unknown, key: string, value: unknown): unknown {
  if (key !== '' && SENSITIVE_KEY.test(key)) {
    return REDACTED;
  }
  switch (typeof value) {
    case 'string':
      return redactUserInfo(value);
    case 'number':
      return Number.isFinite(value) ? value : String(value);
    case 'bigint':
      return `${value}n`;
    case 'function':
      return describeFunction(value);
    case 'symbol':
      return value.toString();
    case 'undefined':
      return key === '' ? value : 'undefined';
    case 'object':
      if (value === null || Array.isArray(value) || isPlainObject(value)) {
        return value;
      }
      return `[object ${constructorName(value)}]`;
    default:
      return value;
  }
}

/**
 * Renders an offending value for an error message: JSON for data, `[class Foo]` for functions,
 * `[object Foo]` for class instances (never their contents), truncated to about 100 characters.
 * Values under secret-like keys and the credentials of URLs are replaced by `<redacted>`.
 */
export function describeValue(value: unknown): string {
  let text: string;
  if (value === undefined) {
    text = 'undefined';
  } else if (typeof value === 'number' || typeof value === 'bigint') {
    text = typeof value === 'bigint' ? `${value}n` : String(value);
  } else if (typeof value === 'function') {
    text = describeFunction(value);
  } else if (typeof value === 'symbol') {
    text = value.toString();
  } else if (
    typeof value === 'object' &&
    value !== null &&
    !Array.isArray(value) &&
    !isPlainObject(value)
  ) {
    text = `[object ${constructorName(value)}]`;
  } else {
    try {
      text = JSON.stringify(value, jsonReplacer) ?? 'undefined';
    } catch {
      text = '[object with circular references]';
    }
  }
  return text.length > MAX_VALUE_LENGTH ? `${text.slice(0, MAX_VALUE_LENGTH - 3)}...` : text;
}

/** Optimal-string-alignment distance (Levenshtein plus adjacent transpositions). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number): number => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, at(i - 2, j - 2) + 1);
      }
      const row = d[i];
      if (row) {
        row[j] = best;
      }
    }
  }
  return at(rows - 1, cols - 1);
}

/**
 * The known name closest to `input` (case-insensitively) within an edit distance of 2, for a
 * "did you mean X?" hint; failing that, the only known name that `input` is a prefix of (or that is a
 * prefix of `input`), at least 4 characters long (`clockTolerance` -> `clockToleranceSeconds`);
 * `undefined` when none is that close.
 */
export function suggestKey(input: string, known: readonly string[]): string | undefined {
  const needle = input.toLowerCase();
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of known) {
    const distance = editDistance(needle, candidate.toLowerCase());
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined || needle.length < 4) {
    return best;
  }
  const related = known.filter((candidate) => {
    const lower = candidate.toLowerCase();
    return lower.length >= 4 && (lower.startsWith(needle) || needle.startsWith(lower));
  });
  return related.length === 1 ? related[0] : undefined;
}

/** Parses an absolute `http:` or `https:` URL; `undefined` for anything else. */
export function parseHttpUrl(value: string): URL | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return undefined;
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.hostname === '') {
    return undefined;
  }
  return url;
}

/** True for `localhost` (and `*.localhost`), `127.x.y.z` and `[::1]`. */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.toLowerCase();
  return (
    host === 'localhost' ||
    host.endsWith('.localhost') ||
    host === '[::1]' ||
    /^127(?:\.\d{1,3}){3}$/.test(host)
  );
}

/**
 * The transport rule for every URL the library fetches or sends a browser to, configured or
 * discovered: never credentials (`user:password@`); with `requireHttps` (`NODE_ENV` is
 * `production`), https unless the host is loopback (`localhost`, `127.0.0.0/8`, `[::1]`). Returns
 * why `url` breaks it (without quoting it), or `undefined`.
 */
export function urlTransportProblem(url: URL, requireHttps: boolean): string | undefined {
  if (url.username !== '' || url.password !== '') {
    return 'must not contain credentials (user:password@)';
  }
  if (requireHttps && url.protocol !== 'https:' && !isLoopbackHost(url.hostname)) {
    return 'must use https when NODE_ENV is "production" (plain http only to a loopback host)';
  }
  return undefined;
}

/** True when the string holds whitespace or ASCII control characters. */
export function hasWhitespaceOrControl(value: string): boolean {
  // eslint-disable-next-line no-control-regex
  return /[\s\u0000-\u001f\u007f]/.test(value);
}

/** The first line of every {@link OidcLogoutOptionsError} thrown here. */
const HEADER = 'OidcLogoutModule options are invalid:';

/** Collects every problem, so that one error lists them all. */
export class Problems {
  private readonly lines: string[] = [];

  /**
   * @param path the option, e.g. `clients[1].postLogoutRedirectUri`
   * @param problem what is wrong with it
   * @param value the offending value, already rendered (`undefined` when there is nothing to show)
   * @param fix how to repair it
   */
  add(path: string, problem: string, value: string | undefined, fix: string): void {
    const got = value === undefined ? '' : ` (got ${value})`;
    this.lines.push(`  - ${path}: ${problem}${got}. Fix: ${fix}.`);
  }

  get empty(): boolean {
    return this.lines.length === 0;
  }

  toError(): OidcLogoutOptionsError {
    return new OidcLogoutOptionsError([HEADER, ...this.lines].join('\n'));
  }
}

/** Reports every own key of `object` that is not in `known`, with a "did you mean" hint. */
export function checkKeys(
  problems: Problems,
  path: string,
  object: Record<string, unknown>,
  known: readonly string[],
): void {
  for (const key of Object.keys(object)) {
    if (known.includes(key)) {
      continue;
    }
    const keyPath = appendKey(path, key);
    if (path === '' && key === 'isGlobal') {
      problems.add(
        keyPath,
        'is not read from the options object (a factory or class returned it)',
        undefined,
        'set it on the module call itself, e.g. OidcLogoutModule.forRootAsync({ isGlobal: true, useFactory })',
      );
      continue;
    }
    const suggestion = suggestKey(key, known);
    // The value is never printed: a misspelled `clientSecret` must not leak into logs.
    problems.add(
      keyPath,
      suggestion
        ? `is not a known option (did you mean "${suggestion}"?)`
        : 'is not a known option',
      undefined,
      suggestion
        ? `rename it to "${suggestion}"`
        : `remove it (known options here: ${known.join(', ')})`,
    );
  }
}

export function checkBoolean(
  problems: Problems,
  path: string,
  value: unknown,
  fallback: boolean,
): boolean {
  if (value === undefined) {
    return fallback;
  }
  if (typeof value === 'boolean') {
    return value;
  }
  problems.add(
    path,
    'must be a boolean',
    describeValue(value),
    `use true or false (not a string), or omit it for the default (${fallback})`,
  );
  return fallback;
}

/** A required or optional non-empty string without surrounding whitespace. */
export function checkText(
  problems: Problems,
  path: string,
  value: unknown,
  what: string,
  options: { secret?: boolean } = {},
): value is string {
  const shown = options.secret ? REDACTED : describeValue(value);
  if (typeof value !== 'string') {
    const type = value === null ? 'null' : typeof value;
    problems.add(
      path,
      `must be a string`,
      options.secret ? `${REDACTED}, a ${type}` : shown,
      `set it to ${what} as a string`,
    );
    return false;
  }
  if (value.trim() === '') {
    problems.add(path, 'must not be empty', shown, `set it to ${what}`);
    return false;
  }
  if (value !== value.trim()) {
    problems.add(
      path,
      'must not start or end with whitespace',
      shown,
      `trim it (a trailing newline from a file or environment variable?) so that it is exactly ${what}`,
    );
    return false;
  }
  return true;
}

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
  const shown = describeValue(value);
  if (hasWhitespaceOrControl(value)) {
    problems.add(path, 'must not contain whitespace or control characters', shown, 'remove them');
    return false;
  }
  const url = parseHttpUrl(value);
  if (!url) {
    problems.add(
      path,
      'must be an absolute http(s) URL',
      shown,
      `use a full URL with scheme and host, e.g. "${rules.example}"`,
    );
    return false;
  }
  if (url.username !== '' || url.password !== '') {
    problems.add(
      path,
      'must not contain credentials (user:password@)',
      shown,
      'remove them from the URL',
    );
    return false;
  }
  const hash = value.indexOf('#');
  const question = rules.query ? -1 : value.indexOf('?');
  if (question >= 0 && (hash < 0 || question < hash)) {
    problems.add(
      path,
      hash >= 0 ? 'must not have a query or a fragment' : 'must not have a query',
      shown,
      `remove everything from "?": ${describeValue(value.slice(0, question))}`,
    );
    return false;
  }
  if (hash >= 0) {
    problems.add(
      path,
      'must not have a fragment',
      shown,
      `remove everything from "#": ${describeValue(value.slice(0, hash))}`,
    );
    return false;
  }
  if (
    rules.httpsInProduction &&
    production &&
    url.protocol === 'http:' &&
    !isLoopbackHost(url.hostname)
  ) {
    problems.add(
      path,
      'must use https when NODE_ENV is "production"',
      shown,
      'use https:// (plain http is accepted only for localhost, 127.0.0.1 and [::1], or outside production)',
    );
    return false;
  }
  return true;
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

/** The reason a route path is invalid, with its fix; `undefined` when it is valid. */
export function routeProblem(value: string): { problem: string; fix: string } | undefined {
  if (/[?#*:\\]/.test(value) || hasWhitespaceOrControl(value)) {
    return {
      problem: 'must be a literal path without "?", "#", "*", ":", "\\" or whitespace',
      fix: 'use a plain path such as "/logout/callback" (the module adds its own parameters)',
    };
  }
  const normalized = `/${value.split('/').filter(Boolean).join('/')}`;
  const fix = normalized === '/' ? 'use a dedicated path such as "/logout"' : `use "${normalized}"`;
  if (value === '/') {
    return { problem: 'must not be "/" (it would shadow the application\'s root)', fix };
  }
  if (!value.startsWith('/')) {
    return { problem: 'must start with "/"', fix };
  }
  if (value.endsWith('/')) {
    return { problem: 'must not end with "/"', fix };
  }
  if (value.includes('//')) {
    return { problem: 'must not contain an empty segment ("//")', fix };
  }
  if (value.split('/').some((segment) => segment === '.' || segment === '..')) {
    return { problem: 'must not contain "." or ".." segments', fix: 'use a normalized path' };
  }
  return undefined;
}
