import {
  compactDecrypt,
  compactVerify,
  errors,
  type CompactDecryptGetKey,
  type DecryptOptions,
  type CryptoKey,
  type JWK,
  type JWTVerifyGetKey,
  type KeyObject,
} from 'jose';
import { JwksKeyAlgorithmMismatchError, JwksUnavailableError } from './jwks-key-set';
import { LogoutTokenError, type LogoutTokenRejection } from './logout-token.error';
import {
  checkLogoutTokenClaims,
  checkLogoutTokenHeader,
  isJsonObject,
  type VerifiedLogoutTokenClaims,
} from './logout-token.rules';
import { ASYMMETRIC_ALGORITHMS, SYMMETRIC_ALGORITHMS } from './signing-algorithms';
import { keyResolver } from './token-keys';

/**
 * Longest logout token accepted, in characters (JWE included). Real ones are 0.7-2 KB; the cap keeps
 * base64 decoding, JSON parsing and decryption of garbage cheap.
 */
export const MAX_LOGOUT_TOKEN_LENGTH = 16 * 1024;

/** JWE key management algorithms accepted by default (no RSA1_5, no PBES2, no `dir`). */
export const DEFAULT_KEY_MANAGEMENT_ALGORITHMS: readonly string[] = [
  'RSA-OAEP',
  'RSA-OAEP-256',
  'RSA-OAEP-384',
  'RSA-OAEP-512',
  'ECDH-ES',
  'ECDH-ES+A128KW',
  'ECDH-ES+A192KW',
  'ECDH-ES+A256KW',
];

/** JWE content encryption algorithms accepted by default. */
export const DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS: readonly string[] = [
  'A128GCM',
  'A192GCM',
  'A256GCM',
  'A128CBC-HS256',
  'A192CBC-HS384',
  'A256CBC-HS512',
];

/** The private key logout tokens are encrypted to (or a resolver picking one by the JWE header). */
export type LogoutTokenDecryptionKey = CryptoKey | KeyObject | JWK | CompactDecryptGetKey;

/**
 * What a back-channel logout token is verified against.
 *
 * @internal
 */
export interface LogoutTokenExpectations {
  /** The registration's issuer (exact match). */
  issuer: string;
  /** The registration's client id (must be in `aud`). */
  clientId: string;
  /** The client secret; HS256/384/512 tokens are verified with it when `algorithms` lists them. */
  clientSecret?: string;
  /** Allowed JWS algorithms; `none` and unknown names are dropped, HS* without a secret too. */
  algorithms: readonly string[];
  /** The OP's keys, normally {@link createOidcKeySet} through `OidcDiscoveryService.getKeySet`. */
  keys: JWTVerifyGetKey;
  /** Clock skew allowed on `iat` and `exp`, in seconds. */
  clockToleranceSeconds: number;
  /** Accept tokens without `exp`, their age capped by `iat` (older OPs). */
  legacy: boolean;
  /** Legacy mode: the maximum age of a token without `exp`, in seconds. */
  legacyMaxAgeSeconds: number;
  /** When set, only encrypted logout tokens (JWE around the JWS) are accepted. */
  decryptionKey?: LogoutTokenDecryptionKey;
  /** Allowed JWE algorithms; defaults {@link DEFAULT_KEY_MANAGEMENT_ALGORITHMS} and {@link DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS}. */
  decryptionAlgorithms?: {
    keyManagement?: readonly string[];
    contentEncryption?: readonly string[];
  };
  /** The current time in epoch seconds (tests); default now. */
  nowSeconds?: number;
}

/** Every part of a compact serialization is base64url; the dots between them are the only others. */
const BASE64URL_PARTS = /^[A-Za-z0-9_.-]*$/;

/** One decoder for every token: `decode` without `stream` keeps no state between calls. */
const UTF8 = new TextDecoder('utf-8', { fatal: true });

const reject = (reason: LogoutTokenRejection, message: string, cause?: unknown) =>
  new LogoutTokenError(reason, message, cause === undefined ? undefined : { cause });

/**
 * A logout token verifier bound to one registration's expectations: what does not depend on the
 * token (the allowed algorithms, the key resolver, jose's options) is prepared once. Call it with the
 * token, and the current time in epoch seconds for tests (default now).
 *
 * @internal
 */
export type LogoutTokenVerifier = (
  token: string,
  nowSeconds?: number,
) => Promise<VerifiedLogoutTokenClaims>;

/**
 * Verifies a back-channel logout token (Back-Channel Logout 1.0 §2.6) and returns its claims, or
 * rejects with a {@link LogoutTokenError} whose `reason` names the rule that failed. Nothing is
 * looked up and nothing is remembered here: replay (`jti`) and the session effect are the caller's.
 *
 * Order: size and shape; decryption when a decryption key is configured (then a plain JWS is
 * refused); header `typ`; signature with jose against the allow-list (`none` never, HMAC only with a
 * client secret); payload a JSON object; claim rules ({@link checkLogoutTokenClaims}).
 *
 * @internal
 */
export async function verifyLogoutToken(
  token: string,
  expected: LogoutTokenExpectations,
): Promise<VerifiedLogoutTokenClaims> {
  return createLogoutTokenVerifier(expected)(token, expected.nowSeconds);
}

/**
 * {@link verifyLogoutToken} for many tokens of one registration: the expectations are read once, here
 * (later changes to the object are not seen), and every token is checked exactly as
 * {@link verifyLogoutToken} checks it.
 *
 * @internal
 */
export function createLogoutTokenVerifier(expected: LogoutTokenExpectations): LogoutTokenVerifier {
  const { issuer, clientId, clockToleranceSeconds, legacy, legacyMaxAgeSeconds } = expected;
  const decryption = decryptionOf(expected);
  const algorithms = allowedAlgorithms(expected);
  const resolver = signatureKeyResolver(expected);
  // Shared by every token of the registration: frozen, so that nothing can change them meanwhile.
  Object.freeze(algorithms);
  const joseOptions = Object.freeze({ algorithms });
  return async (token, nowSeconds) => {
    const jws = decryption === undefined ? plainJws(token) : await decryption(token);
    checkProtectedHeader(jws);
    if (algorithms.length === 0) {
      throw reject('alg_not_allowed', 'no signing algorithm is allowed for this registration');
    }
    let payloadBytes: Uint8Array;
    try {
      payloadBytes = (await compactVerify(jws, resolver, joseOptions)).payload;
    } catch (error) {
      payloadBytes = await verifyWithEachKey(jws, joseOptions, error);
    }
    let payload: unknown;
    try {
      payload = JSON.parse(UTF8.decode(payloadBytes));
    } catch {
      // No cause: JSON.parse's message quotes the input.
      throw reject('malformed', 'the payload is not JSON');
    }
    return checkLogoutTokenClaims(payload, {
      issuer,
      clientId,
      nowSeconds: nowSeconds ?? Math.floor(Date.now() / 1000),
      clockToleranceSeconds,
      legacy,
      legacyMaxAgeSeconds,
    });
  };
}

/** The token itself when it is a compact JWS; a JWE is refused (the registration has no key). */
function plainJws(token: string): string {
  if (compactParts(token) === 5) {
    throw reject(
      'malformed',
      'an encrypted (JWE) token, but the registration has no decryption key',
    );
  }
  return token;
}

/** With a decryption key: the JWS inside the JWE; a plain JWS is refused. */
function decryptionOf(
  expected: LogoutTokenExpectations,
): ((token: string) => Promise<string>) | undefined {
  const key = expected.decryptionKey;
  if (key === undefined) return undefined;
  const options = {
    keyManagementAlgorithms: [
      ...(expected.decryptionAlgorithms?.keyManagement ?? DEFAULT_KEY_MANAGEMENT_ALGORITHMS),
    ],
    contentEncryptionAlgorithms: [
      ...(expected.decryptionAlgorithms?.contentEncryption ??
        DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS),
    ],
    maxDecompressedLength: MAX_LOGOUT_TOKEN_LENGTH,
  };
  return (token) => {
    if (compactParts(token) !== 5) {
      throw reject('encryption_required', 'the registration requires an encrypted (JWE) token');
    }
    return decrypt(token, key, options);
  };
}

/** The protected header: base64url JSON, `typ` allowed, no unencoded payload (`b64`). */
function checkProtectedHeader(jws: string): void {
  const header = decodeJson(jws.slice(0, jws.indexOf('.')), 'header');
  checkLogoutTokenHeader(header);
  if (isJsonObject(header) && header.b64 !== undefined && header.b64 !== true) {
    throw reject('malformed', 'an unencoded payload (b64) is not allowed in a JWT');
  }
}

/** The JWS algorithms actually allowed: known names only, never `none`, HMAC only with a secret. */
function allowedAlgorithms(expected: LogoutTokenExpectations): string[] {
  const hasSecret = typeof expected.clientSecret === 'string' && expected.clientSecret.length > 0;
  return expected.algorithms.filter(
    (alg) => ASYMMETRIC_ALGORITHMS.has(alg) || (hasSecret && SYMMETRIC_ALGORITHMS.has(alg)),
  );
}

/**
 * The number of parts of a compact JWS (3) or JWE (5), all base64url, header (and JWS payload) not
 * empty; anything else is `malformed`.
 */
function compactParts(token: unknown): 3 | 5 {
  if (typeof token !== 'string' || token.length === 0) {
    throw reject('malformed', 'the token is empty or not a string');
  }
  if (token.length > MAX_LOGOUT_TOKEN_LENGTH) {
    throw reject('malformed', `the token is longer than ${MAX_LOGOUT_TOKEN_LENGTH} characters`);
  }
  const firstDot = token.indexOf('.');
  let parts = 1;
  for (let dot = firstDot; dot !== -1 && parts <= 5; dot = token.indexOf('.', dot + 1)) parts++;
  if (parts !== 3 && parts !== 5) {
    throw reject('malformed', 'not a compact JWS (3 parts) or JWE (5 parts)');
  }
  if (!BASE64URL_PARTS.test(token)) {
    throw reject('malformed', 'a part is not base64url');
  }
  if (firstDot === 0 || (parts === 3 && token.charCodeAt(firstDot + 1) === DOT)) {
    throw reject('malformed', 'empty header or payload');
  }
  return parts;
}

const DOT = 0x2e;

/** A base64url JSON member (header), or `malformed`. */
function decodeJson(encoded: string, what: string): unknown {
  try {
    return JSON.parse(UTF8.decode(Buffer.from(encoded, 'base64url')));
  } catch {
    throw reject('malformed', `the ${what} is not base64url-encoded JSON`);
  }
}

/** Decrypts the JWE; its plaintext must be a compact JWS. */
async function decrypt(
  token: string,
  key: LogoutTokenDecryptionKey,
  options: DecryptOptions,
): Promise<string> {
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(token, key as CompactDecryptGetKey, options));
  } catch (error) {
    if (error instanceof errors.JWEInvalid) {
      throw reject('malformed', 'the JWE is malformed', error);
    }
    if (error instanceof errors.JOSEAlgNotAllowed) {
      throw reject('decryption_failed', 'the JWE alg or enc is not allowed', error);
    }
    throw reject('decryption_failed', 'the JWE could not be decrypted', error);
  }
  let jws: string;
  try {
    jws = UTF8.decode(plaintext);
  } catch {
    throw reject('malformed', 'the decrypted content is not a compact JWS');
  }
  if (compactParts(jws) !== 3) {
    throw reject('malformed', 'the decrypted content is not a compact JWS');
  }
  return jws;
}

/**
 * The key resolver handed to jose: HMAC algorithms get the client secret, the others the OP's keys;
 * a resolver failing for its own reasons (e.g. discovery down) means the keys are unavailable.
 */
function signatureKeyResolver(expected: LogoutTokenExpectations): JWTVerifyGetKey {
  const keys = keyResolver(expected.keys, expected.clientSecret);
  // Not an async function: a cached key costs no extra promise.
  return (header, token) => {
    try {
      const key = keys(header, token);
      return isThenable(key) ? Promise.resolve(key).catch(keyResolutionFailure) : key;
    } catch (error) {
      return keyResolutionFailure(error);
    }
  };
}

const isThenable = (value: unknown): value is PromiseLike<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

function keyResolutionFailure(error: unknown): never {
  // An OP key jose cannot import (unsupported kty/crv) is not the token's header's fault.
  if (error instanceof errors.JOSENotSupported) {
    throw new errors.JWKInvalid("the OP's key cannot be imported", { cause: error });
  }
  if (error instanceof errors.JOSEError) throw error;
  throw new JwksUnavailableError("the OP's keys could not be resolved", { cause: error });
}

/**
 * After jose's `compactVerify` failed: several keys fit a token without `kid` (jose leaves trying each
 * to the caller), or the failure as a rejection reason. Returns the payload bytes.
 */
async function verifyWithEachKey(
  jws: string,
  options: { algorithms: string[] },
  error: unknown,
): Promise<Uint8Array> {
  if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw mapJoseError(error);
  for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
    try {
      return (await compactVerify(jws, key, options)).payload;
    } catch (attempt) {
      if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) {
        throw mapJoseError(attempt);
      }
    }
  }
  throw reject('signature_invalid', 'the signature does not verify with any matching key');
}

/** A jose (or key set) failure as a rejection reason; messages never contain the token. */
function mapJoseError(error: unknown): LogoutTokenError {
  if (error instanceof LogoutTokenError) return error;
  if (error instanceof errors.JOSEAlgNotAllowed) {
    return reject('alg_not_allowed', 'the signing algorithm is not allowed', error);
  }
  if (error instanceof JwksKeyAlgorithmMismatchError) {
    return reject(
      'alg_not_allowed',
      "the OP's key with this kid is for another algorithm than the token's",
      error,
    );
  }
  if (error instanceof errors.JWKSNoMatchingKey) {
    return reject('key_not_found', "no key of the OP's JWKS matches the token (kid/alg)", error);
  }
  if (
    error instanceof errors.JWKSTimeout ||
    error instanceof JwksUnavailableError ||
    error instanceof errors.JWKSInvalid
  ) {
    return reject('jwks_unavailable', "the OP's JWKS could not be fetched", error);
  }
  if (error instanceof errors.JWSSignatureVerificationFailed) {
    return reject('signature_invalid', 'the signature does not verify', error);
  }
  if (error instanceof TypeError) {
    return reject('alg_not_allowed', "the OP's key cannot be used with the token's alg", error);
  }
  if (error instanceof errors.JOSENotSupported) {
    return reject('malformed', 'the JWS uses an unsupported feature (e.g. crit)', error);
  }
  if (error instanceof errors.JWKInvalid) {
    return reject('key_not_found', "the OP's key for the token is not usable", error);
  }
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) {
    return reject('malformed', 'the JWS is malformed', error);
  }
  return reject('signature_invalid', 'the signature could not be verified', error);
}
