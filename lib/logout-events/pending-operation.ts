import type { OidcSessionInfo } from '../interfaces/oidc-session-info.interface';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import { hashSid } from '../repositories/session-id-hash';

/**
 * The verified logout to apply (the fields of `AppliedLogout` it needs). Kept as the verifier gave
 * it: the logout token itself is not kept.
 */
export interface PendingLogoutFields {
  sid?: string;
  sub?: string;
  jti?: string;
  jtiExpiresAt?: Date;
  issuedAt?: number;
  revokeOfflineAccess?: boolean;
  /** See `AppliedLogout.tellIfReplayed`. */
  tellIfReplayed?: boolean;
}

/** An operation the store could not take, kept until it can. @internal */
export type PendingOperation =
  | {
      kind: 'logout';
      registration: ResolvedClientRegistration;
      logout: PendingLogoutFields;
    }
  | {
      /** A login record whose `recordLogin` failed after it was (or may have been) saved. */
      kind: 'forget-login';
      /** Hashed, as stored. */
      clientSessionId: string;
      /** `createdAt` of that record: a later login of the same session is left alone. */
      createdAt: number;
    };

/** A pending operation as the queue keeps it. @internal */
export interface PendingEntry {
  readonly key: string;
  readonly operation: PendingOperation;
  /** When it was kept (epoch ms). */
  readonly since: number;
  /** After this (epoch ms) it is dropped unapplied: every session it could end has expired. */
  readonly keepUntil: number;
  attempts: number;
}

/** Whether `operation` ends this login record (the guard then refuses it). @internal */
export function operationEnds(operation: PendingOperation, info: OidcSessionInfo): boolean {
  if (operation.kind === 'forget-login') {
    return (
      operation.clientSessionId === info.clientSessionId &&
      operation.createdAt === info.createdAt.getTime()
    );
  }
  const { registration, logout } = operation;
  if (info.issuer !== registration.issuer || info.clientId !== registration.clientId) return false;
  if (logout.sid !== undefined) {
    // The record has the sid's digest; the logout, the sid the OP sent.
    const sid = hashSid(logout.sid);
    return info.sid === sid && (logout.sub === undefined || info.sub === logout.sub);
  }
  return logout.sub !== undefined && info.sub === logout.sub;
}

/** What a log line may say about an operation: its kind and registration, no ids. @internal */
export function describeOperation(operation: PendingOperation): Record<string, string> {
  return operation.kind === 'logout'
    ? { operation: 'logout', registrationId: operation.registration.registrationId }
    : { operation: 'forget-login' };
}
