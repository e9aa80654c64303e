import type { Logger } from '@nestjs/common';

/** How long `req.logout`'s callback is awaited before the logout goes on without it. */
const PASSPORT_LOGOUT_TIMEOUT_MS = 2_000;

/**
 * Logs passport out when it is in use (`req.logout`), tolerating its absence and old versions;
 * resolves once it is done, failed (logged on `logger`) or timed out.
 *
 * @internal
 */
export async function logOutPassport(request: { logout?: unknown }, logger: Logger): Promise<void> {
  const logout = request.logout;
  if (typeof logout !== 'function') return;
  const warn = (error: unknown) =>
    logger.warn({
      event: 'oidc_rp_logout_passport_failed',
      error: error instanceof Error ? error.name : typeof error,
    });
  await new Promise<void>((resolve) => {
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve();
    };
    // A callback that never comes (a custom req.logout) must not hang the logout.
    const timer = setTimeout(finish, PASSPORT_LOGOUT_TIMEOUT_MS);
    timer.unref?.();
    try {
      if (logout.length === 0) {
        // passport < 0.6: synchronous, no callback.
        (logout as () => unknown).call(request);
        finish();
      } else {
        // passport >= 0.6: req.logout(done); it regenerates the session, destroyed next anyway.
        (logout as (done: (error?: unknown) => void) => unknown).call(request, (error) => {
          if (error) warn(error);
          finish();
        });
      }
    } catch (error) {
      warn(error);
      finish();
    }
  });
}
