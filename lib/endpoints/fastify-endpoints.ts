import { Logger, type NestMiddleware, type Type } from '@nestjs/common';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SessionRequest } from '../services/request-session';

/** Where the marking middleware leaves the endpoint a raw request is for. */
const ENDPOINT = Symbol('nest-oidc-logout.endpoint');

type MarkedRequest = IncomingMessage & SessionRequest & { [ENDPOINT]?: Type<NestMiddleware> };

/** The parts of a Fastify request and reply the hook uses (Fastify is not a dependency). */
interface FastifyRequestLike {
  raw: IncomingMessage;
  session?: SessionRequest['session'];
  /** `http` or `https`, and the host with its port: both honour Fastify's `trustProxy`. */
  protocol?: unknown;
  host?: unknown;
}
interface FastifyReplyLike {
  raw: ServerResponse;
  hijack(): unknown;
}
/** The part of a Fastify instance the module uses. */
export interface FastifyInstanceLike {
  addHook(
    name: 'onRequest',
    hook: (request: FastifyRequestLike, reply: FastifyReplyLike) => Promise<void>,
  ): unknown;
}

/**
 * On Fastify, Nest middleware runs in @fastify/middie's `onRequest` hook, which the adapter adds
 * first, on the raw request: before the app's session plugin (@fastify/session adds its own
 * `onRequest` hook later) has put a session on the Fastify request, and out of reach of it. So the
 * middleware bound to an endpoint's route (Nest matches the path, global prefix included) only marks
 * the raw request with the endpoint it is for; {@link addFastifyEndpointHook}'s hook, added when the
 * module is initialised (after the plugins the app registered before `init()`/`listen()`), then runs
 * the endpoint with the Fastify request's session on the raw request, and answers on the raw reply
 * (hijacked). That is still in the `onRequest` phase, before Fastify's content-type parsers read the
 * body: the back-channel endpoint reads (and bounds) it itself.
 *
 * @internal
 */
export function markFastifyEndpoint(endpoint: Type<NestMiddleware>) {
  return function markOidcLogoutEndpoint(
    request: MarkedRequest,
    _response: unknown,
    next: () => void,
  ): void {
    request[ENDPOINT] = endpoint;
    next();
  };
}

/**
 * Adds the `onRequest` hook that runs the endpoints {@link markFastifyEndpoint} marked.
 *
 * @param resolve the endpoint's instance (from the module's providers)
 * @internal
 */
export function addFastifyEndpointHook(
  fastify: FastifyInstanceLike,
  resolve: (endpoint: Type<NestMiddleware>) => NestMiddleware,
): void {
  const logger = new Logger('OidcLogoutModule');
  fastify.addHook('onRequest', async function oidcLogoutEndpoints(request, reply) {
    const raw = request.raw as MarkedRequest;
    const endpoint = raw[ENDPOINT];
    if (endpoint === undefined) return;
    delete raw[ENDPOINT];
    reply.hijack();
    if (raw.session === undefined && request.session != null) raw.session = request.session;
    // The app's origin as the browser sees it (behind a TLS proxy too), as Express's req.protocol
    // and req.host give it: the same-origin check and the Secure cookies read these.
    for (const name of ['protocol', 'host'] as const) {
      const value = request[name];
      if (typeof value === 'string' && value !== '' && !(name in raw)) {
        Object.defineProperty(raw, name, { value, configurable: true, enumerable: false });
      }
    }
    try {
      await resolve(endpoint).use(raw, reply.raw, () => undefined);
    } catch (error) {
      logger.error({
        event: 'oidc_endpoint_failed',
        error: error instanceof Error ? error.name : typeof error,
      });
    } finally {
      if (!reply.raw.headersSent) {
        reply.raw.statusCode = 500;
        reply.raw.setHeader('Cache-Control', 'no-store');
        reply.raw.end();
      }
    }
  });
}
