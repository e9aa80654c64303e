const CODE = /^[A-Z][A-Z0-9_]{0,63}$/;

/**
 * What a health report says of an error: its stable code (`ERR_REPOSITORY_UNAVAILABLE`,
 * `ERR_DISCOVERY_FAILED`, jose's `ERR_JWKS_TIMEOUT`), else its class name. Never its message: a
 * store's message could quote a value.
 *
 * @internal
 */
export function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string' && CODE.test(code)) return code;
  if (error instanceof Error && /^[A-Za-z][A-Za-z0-9]{0,63}$/.test(error.name)) return error.name;
  return 'Error';
}
