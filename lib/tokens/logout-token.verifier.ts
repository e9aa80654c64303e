import {
  compactDecrypt,
  compactVerify,
  errors,
  type CompactDecryptGetKey,
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

const BASE64URL = /^[A-Za-z0-9_-]*$/;

const reject = (reason: LogoutTokenRejection, message: string, cause?: unknown) =>
  new LogoutTokenError(reason, message, cause === undefined ? undefined : { cause });

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
  const parts = splitCompact(token);
  let jws: string;
  if (expected.decryptionKey !== undefined) {
    if (parts.length !== 5) {
      throw reject('encryption_required', 'the registration requires an encrypted (JWE) token');
    }
    jws = await decrypt(token, expected);
  } else {
    if (parts.length === 5) {
      throw reject(
        'malformed',
        'an encrypted (JWE) token, but the registration has no decryption key',
      );
    }
    jws = token;
  }
  const [encodedHeader = ''] = jws.split('.');
  const header = decodeJson(encodedHeader, 'header');
  checkLogoutTokenHeader(header);
  if (isJsonObject(header) && header.b64 !== undefined && header.b64 !== true) {
    throw reject('malformed', 'an unencoded payload (b64) is not allowed in a JWT');
  }

  const algorithms = allowedAlgorithms(expected);
  const payloadBytes = await verifySignature(jws, expected, algorithms);
  let payload: unknown;
  try {
    payload = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payloadBytes));
  } catch {
    // No cause: JSON.parse's message quotes the input.
    throw reject('malformed', 'the payload is not JSON');
  }
  return checkLogoutTokenClaims(payload, {
    issuer: expected.issuer,
    clientId: expected.clientId,
    nowSeconds: expected.nowSeconds ?? Math.floor(Date.now() / 1000),
    clockToleranceSeconds: expected.clockToleranceSeconds,
    legacy: expected.legacy,
    legacyMaxAgeSeconds: expected.legacyMaxAgeSeconds,
  });
}

/** The JWS algorithms actually allowed: known names only, never `none`, HMAC only with a secret. */
function allowedAlgorithms(expected: LogoutTokenExpectations): string[] {
  const hasSecret = typeof expected.clientSecret === 'string' && expected.clientSecret.length > 0;
  return expected.algorithms.filter(
    (alg) => ASYMMETRIC_ALGORITHMS.has(alg) || (hasSecret && SYMMETRIC_ALGORITHMS.has(alg)),
  );
}

/** The parts of a compact JWS (3) or JWE (5); anything else is `malformed`. */
function splitCompact(token: unknown): string[] {
  if (typeof token !== 'string' || token.length === 0) {
    throw reject('malformed', 'the token is empty or not a string');
  }
  if (token.length > MAX_LOGOUT_TOKEN_LENGTH) {
    throw reject('malformed', `the token is longer than ${MAX_LOGOUT_TOKEN_LENGTH} characters`);
  }
  const parts = token.split('.');
  if (parts.length !== 3 && parts.length !== 5) {
    throw reject('malformed', 'not a compact JWS (3 parts) or JWE (5 parts)');
  }
  if (!parts.every((part) => BASE64URL.test(part))) {
    throw reject('malformed', 'a part is not base64url');
  }
  if (parts[0] === '' || (parts.length === 3 && parts[1] === '')) {
    throw reject('malformed', 'empty header or payload');
  }
  return parts;
}

/** A base64url JSON member (header), or `malformed`. */
function decodeJson(encoded: string, what: string): unknown {
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      Buffer.from(encoded, 'base64url'),
    );
    return JSON.parse(text);
  } catch {
    throw reject('malformed', `the ${what} is not base64url-encoded JSON`);
  }
}

/** Decrypts the JWE; its plaintext must be a compact JWS. */
async function decrypt(token: string, expected: LogoutTokenExpectations): Promise<string> {
  const key = expected.decryptionKey as LogoutTokenDecryptionKey;
  let plaintext: Uint8Array;
  try {
    ({ plaintext } = await compactDecrypt(token, key as CompactDecryptGetKey, {
      keyManagementAlgorithms: [
        ...(expected.decryptionAlgorithms?.keyManagement ?? DEFAULT_KEY_MANAGEMENT_ALGORITHMS),
      ],
      contentEncryptionAlgorithms: [
        ...(expected.decryptionAlgorithms?.contentEncryption ??
          DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS),
      ],
      maxDecompressedLength: MAX_LOGOUT_TOKEN_LENGTH,
    }));
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
    jws = new TextDecoder('utf-8', { fatal: true }).decode(plaintext);
  } catch {
    throw reject('malformed', 'the decrypted content is not a compact JWS');
  }
  const parts = splitCompact(jws);
  if (parts.length !== 3) throw reject('malformed', 'the decrypted content is not a compact JWS');
  return jws;
}

/** Verifies the JWS signature with jose; returns the payload bytes. */
async function verifySignature(
  jws: string,
  expected: LogoutTokenExpectations,
  algorithms: string[],
): Promise<Uint8Array> {
  if (algorithms.length === 0) {
    throw reject('alg_not_allowed', 'no signing algorithm is allowed for this registration');
  }
  const keys = keyResolver(expected.keys, expected.clientSecret);
  // A resolver failing for its own reasons (e.g. discovery down) means the keys are unavailable.
  const resolver: JWTVerifyGetKey = async (header, token) => {
    try {
      return await keys(header, token);
    } catch (error) {
      // An OP key jose cannot import (unsupported kty/crv) is not the token's header's fault.
      if (error instanceof errors.JOSENotSupported) {
        throw new errors.JWKInvalid("the OP's key cannot be imported", { cause: error });
      }
      if (error instanceof errors.JOSEError) throw error;
      throw new JwksUnavailableError("the OP's keys could not be resolved", { cause: error });
    }
  };
  try {
    return (await compactVerify(jws, resolver, { algorithms })).payload;
  } catch (error) {
    if (!(error instanceof errors.JWKSMultipleMatchingKeys)) throw mapJoseError(error);
    // Several keys fit a token without `kid`: try each (jose leaves that to the caller).
    for await (const key of error as unknown as AsyncIterable<CryptoKey>) {
      try {
        return (await compactVerify(jws, key, { algorithms })).payload;
      } catch (attempt) {
        if (!(attempt instanceof errors.JWSSignatureVerificationFailed)) {
          throw mapJoseError(attempt);
        }
      }
    }
    throw reject('signature_invalid', 'the signature does not verify with any matching key');
  }
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
