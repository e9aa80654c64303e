/** A stable code: the library's `ERR_…`, jose's `ERR_JWKS_TIMEOUT`, Node's `ECONNREFUSED`. */
const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;
/** A class name: a plain identifier. */
const NAME = /^[A-Za-z][A-Za-z0-9]{0,63}$/;

/**
 * What a log line, a metric, a span or a health report may say of an error: its stable code when
 * it has one, else its class name, else `Error` (a thrown string, `undefined`, a class name that
 * is not a plain identifier). Never its message or a value it carries: a store's error could quote
 * a session id.
 *
 * @internal
 */
export function errorType(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && CODE.test(code)) return code;
  return error instanceof Error && NAME.test(error.name) ? error.name : 'Error';
}
