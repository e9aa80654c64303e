/**
 * The shape of a request carrying a server-side session, as express-session (`req.sessionID`,
 * `req.session`) and @fastify/session (`request.session.sessionId`) make it.
 *
 * @publicApi
 */
export interface SessionRequest {
  sessionID?: string;
  session?: {
    id?: string;
    sessionId?: string;
    cookie?: { maxAge?: number | null; originalMaxAge?: number | null };
    destroy?: (callback: (error?: unknown) => void) => unknown;
    regenerate?: (callback: (error?: unknown) => void) => unknown;
  };
}

/** The application's session id of a request, or `undefined` when it has no session. @internal */
export function sessionIdOf(request: SessionRequest): string | undefined {
  const id = request.sessionID ?? request.session?.sessionId ?? request.session?.id;
  return typeof id === 'string' && id.length > 0 ? id : undefined;
}

/** The session cookie's remaining lifetime in milliseconds, when it is finite. @internal */
export function sessionMaxAgeMs(request: SessionRequest): number | undefined {
  const maxAge = request.session?.cookie?.maxAge;
  return typeof maxAge === 'number' && Number.isFinite(maxAge) && maxAge > 0 ? maxAge : undefined;
}

/** Destroys the request's server-side session, if any; resolves even when the store fails. @internal */
export async function destroySession(request: SessionRequest): Promise<unknown> {
  const session = request.session;
  if (!session || typeof session.destroy !== 'function') return undefined;
  return new Promise<unknown>((resolve) => {
    try {
      session.destroy?.call(session, (error?: unknown) => resolve(error));
    } catch (error) {
      resolve(error);
    }
  });
}
