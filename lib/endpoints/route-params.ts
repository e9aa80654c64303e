import type { IncomingMessage } from 'node:http';

/** A request as a logout endpoint sees it: Express's (with `params`) or a raw Node request. @internal */
export interface RoutedRequest extends IncomingMessage {
  params?: Record<string, string | undefined>;
  originalUrl?: string;
}

/**
 * The `:registrationId` of `{routes.backChannel}/:registrationId` and
 * `{routes.frontChannel}/:registrationId`: Express's route parameter when the framework set one, else
 * the last segment of the request's path (one trailing slash ignored), percent-decoded. On Fastify,
 * Nest middleware sees the raw request, which has no `params`; the middleware is bound to exactly
 * that route, so its last segment is the parameter. `''` when there is none or it cannot be decoded
 * (no registration has that id).
 *
 * @internal
 */
export function registrationIdOf(request: RoutedRequest): string {
  const fromRoute = request.params?.registrationId;
  if (typeof fromRoute === 'string') return fromRoute;
  const url = request.originalUrl ?? request.url ?? '';
  const end = url.search(/[?#]/);
  let path = end < 0 ? url : url.slice(0, end);
  if (path.endsWith('/')) path = path.slice(0, -1);
  const segment = path.slice(path.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(segment);
  } catch {
    return '';
  }
}
