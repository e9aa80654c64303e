import {
  compactDecrypt,
  errors,
  type CompactDecryptGetKey,
  type CryptoKey,
  type DecryptOptions,
  type JWK,
  type KeyObject,
} from 'jose';
import { compactParts, MAX_LOGOUT_TOKEN_LENGTH, reject, UTF8 } from './logout-token.compact';

/** Encrypted logout tokens (JWE around the JWS): which algorithms, which key, and the decryption. */

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

/** The JWE settings of a registration. @internal */
export interface LogoutTokenDecryption {
  /** When set, only encrypted logout tokens (JWE around the JWS) are accepted. */
  decryptionKey?: LogoutTokenDecryptionKey;
  /** Allowed JWE algorithms; defaults {@link DEFAULT_KEY_MANAGEMENT_ALGORITHMS} and {@link DEFAULT_CONTENT_ENCRYPTION_ALGORITHMS}. */
  decryptionAlgorithms?: {
    keyManagement?: readonly string[];
    contentEncryption?: readonly string[];
  };
}

/** The token itself when it is a compact JWS; a JWE is refused (the registration has no key). */
export function plainJws(token: string): string {
  if (compactParts(token) === 5) {
    throw reject(
      'malformed',
      'an encrypted (JWE) token, but the registration has no decryption key',
    );
  }
  return token;
}

/** With a decryption key: the JWS inside the JWE; a plain JWS is refused. */
export function decryptionOf(
  expected: LogoutTokenDecryption,
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
