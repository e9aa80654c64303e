/**
 * RFC 7519 NumericDate claims (`iat`, `exp`, `nbf`, `auth_time`): a JSON number of seconds since the
 * epoch, a fraction allowed. What the library accepts of them, in one place for logout and ID tokens.
 *
 * @internal
 */

/**
 * The latest NumericDate accepted: 9999-12-31T23:59:59Z. Beyond it a claim is absurd (`exp: 1e13`
 * would even make an invalid `Date`), whatever the token says.
 */
export const MAX_NUMERIC_DATE = 253_402_300_799;

/**
 * Why a NumericDate claim is unusable, in words naming the claim (never its value); `undefined` when
 * it is a finite number from 0 (the epoch) to {@link MAX_NUMERIC_DATE}, fraction or not.
 */
export function numericDateProblem(name: string, value: unknown): string | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    return `${name} is not a number`;
  }
  if (value < 0 || value > MAX_NUMERIC_DATE) {
    return `${name} is not a sane NumericDate (before 1970 or after the year 9999)`;
  }
  return undefined;
}
