/**
 * Small, pure helpers used by the startup validation of the module options: the problem list and the
 * checks of keys, booleans and text. The other helpers live beside this file and are exported here
 * too, so that one import gives every check.
 *
 * @internal
 */

import { OidcLogoutOptionsError } from '../errors/oidc-logout.error';
import { appendKey, describeValue, REDACTED } from './describe-value';
import { suggestKey } from './suggest-key';

export { appendKey, describeValue, isPlainObject, REDACTED } from './describe-value';
export { editDistance, suggestKey } from './suggest-key';
export {
  hasWhitespaceOrControl,
  isLoopbackHost,
  parseHttpUrl,
  routeProblem,
  urlTransportProblem,
} from './url-rules';
export { checkAbsoluteUrl, checkLandingUrl, type UrlRules } from './check-urls';

/** The first line of every {@link OidcLogoutOptionsError} thrown here. */
const HEADER = 'OidcLogoutModule options are invalid:';

/** Collects every problem, so that one error lists them all. */
export class Problems {
  private readonly lines: string[] = [];

  /** @param header the error's first line: what was given invalid options. */
  constructor(private readonly header: string = HEADER) {}

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
    return new OidcLogoutOptionsError([this.header, ...this.lines].join('\n'));
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
