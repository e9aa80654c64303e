import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * One authorization request waiting for its callback, as kept in the application's session: what the
 * callback must check (`state` handle, `nonce`, `max_age`) and the PKCE verifier it must send.
 *
 * @internal
 */
export interface PendingLogin {
  /** The `state` parameter: 32 random bytes, base64url. */
  handle: string;
  nonce: string;
  codeVerifier?: string;
  maxAge?: number;
  /** When the request was made (ISO 8601), for the `max_age` check. */
  issuedAt?: string;
  /** The application's own state (passport's `state` authenticate option). */
  appState?: unknown;
  /** Epoch milliseconds after which the callback is refused. */
  expiresAt: number;
}

/** How long a login may take at the OP before its callback is refused. @internal */
export const PENDING_LOGIN_TTL_MS = 10 * 60_000;

/** How many logins may be pending at once in one session (several tabs); the oldest goes first. @internal */
export const MAX_PENDING_LOGINS = 5;

/** Every registration's pending logins are kept in the session under a key with this prefix. @internal */
export const LOGIN_STATE_KEY_PREFIX = 'oidc-login:';

/**
 * How many taken `state` handles one process remembers (each until its login would have expired),
 * so that two requests carrying the same callback at once pass the state check once.
 *
 * @internal
 */
export const MAX_TAKEN_HANDLES = 10_000;

/** The session object of express-session (or any object that is saved with the session). @internal */
export type LoginSessionData = Record<string, unknown>;

/**
 * Pending logins of one registration in the session, under `key`: each one used once (taken, whether it
 * matches or not the callback's checks afterwards), expiring after {@link PENDING_LOGIN_TTL_MS}, at
 * most {@link MAX_PENDING_LOGINS} of them. The `state` handle is compared in constant time.
 *
 * Taking is atomic within the process: each request has its own copy of the session (express-session
 * loads it per request), so two requests carrying the same callback at once would both find the
 * pending login; the store also remembers the digests of the handles it gave out, and a handle is
 * taken once. Across processes the OP's single-use authorization code is the backstop.
 *
 * @internal
 */
export class OidcLoginStateStore {
  /** SHA-256 of each taken handle, with when its login would have expired, oldest first. */
  private readonly taken = new Map<string, number>();

  constructor(
    readonly key: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** Saves a new pending login; returns its handle, to send as the `state` parameter. */
  save(session: LoginSessionData, login: Omit<PendingLogin, 'handle' | 'expiresAt'>): string {
    const handle = randomBytes(32).toString('base64url');
    const pending = this.live(session);
    pending.push({ ...login, handle, expiresAt: this.now() + PENDING_LOGIN_TTL_MS });
    session[this.key] = pending.slice(-MAX_PENDING_LOGINS);
    return handle;
  }

  /**
   * Removes and returns the pending login with this handle, or `undefined` when there is none (no
   * `state`, a foreign or replayed one, or one that expired).
   */
  take(session: LoginSessionData, handle: unknown): PendingLogin | undefined {
    const pending = this.live(session);
    const index =
      typeof handle === 'string' ? pending.findIndex((p) => sameHandle(p.handle, handle)) : -1;
    const found = index >= 0 ? pending.splice(index, 1)[0] : undefined;
    if (pending.length > 0) session[this.key] = pending;
    else delete session[this.key];
    return found && this.takeOnce(found) ? found : undefined;
  }

  /** `true` the first time this process takes the login's handle, `false` after. */
  private takeOnce(login: PendingLogin): boolean {
    const now = this.now();
    const digest = createHash('sha256').update(login.handle).digest('base64url');
    const expiresAt = this.taken.get(digest);
    if (expiresAt !== undefined && expiresAt > now) return false;
    for (const [key, until] of this.taken) {
      if (until > now && this.taken.size < MAX_TAKEN_HANDLES) break;
      // Expired, or the oldest when full: taken long before any request still in flight.
      this.taken.delete(key);
    }
    this.taken.delete(digest);
    this.taken.set(digest, login.expiresAt);
    return true;
  }

  /** The well-formed, unexpired pending logins in the session (a copy). */
  private live(session: LoginSessionData): PendingLogin[] {
    const stored = session[this.key];
    if (!Array.isArray(stored)) return [];
    const now = this.now();
    return stored.filter((p): p is PendingLogin => isPendingLogin(p) && p.expiresAt > now);
  }
}

function isPendingLogin(value: unknown): value is PendingLogin {
  if (typeof value !== 'object' || value === null) return false;
  const p = value as Partial<Record<keyof PendingLogin, unknown>>;
  return (
    typeof p.handle === 'string' &&
    typeof p.nonce === 'string' &&
    p.nonce.length > 0 &&
    typeof p.expiresAt === 'number' &&
    (p.codeVerifier === undefined || typeof p.codeVerifier === 'string') &&
    (p.maxAge === undefined || typeof p.maxAge === 'number') &&
    (p.issuedAt === undefined || typeof p.issuedAt === 'string')
  );
}

function sameHandle(expected: string, given: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(given);
  return a.length === b.length && timingSafeEqual(a, b);
}
