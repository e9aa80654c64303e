/**
 * How an offending option value is shown in an error message: short, and never a secret.
 *
 * @internal
 */

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
