import { Injectable, Logger, type NestMiddleware } from '@nestjs/common';
import type { ServerResponse } from 'node:http';
import { OidcLogoutError } from '../errors/oidc-logout.error';
import { errorType } from '../errors/error-type';
import {
  BackChannelLogoutService,
  type BackChannelLogoutResult,
} from '../services/back-channel-logout.service';
import { PendingLogoutError } from '../logout-events/pending-logout.error';
import { LogoutTokenError } from '../tokens/logout-token.error';
import {
  charsetProblem,
  contentEncodingProblem,
  hasUnreadBody,
  isFormUrlEncoded,
  keepReadBody,
  readBoundedBody,
  readFormField,
  readParsedFormField,
  type FormField,
  type FormRequest,
} from '../http/form-body';
import { sendEmptyOk, sendOAuthError, sendOAuthErrorAndClose } from '../http/http-response';
import { registrationIdOf } from './route-params';
import { OidcTelemetry } from '../telemetry/oidc-telemetry';
import { SPAN } from '../telemetry/telemetry-names';

/** The largest back-channel request body accepted (logout tokens are a few KiB). */
export const BACK_CHANNEL_MAX_BODY_BYTES = 64 * 1024;

interface RoutedRequest extends FormRequest {
  params?: Record<string, string | undefined>;
}

/**
 * `POST {routes.backChannel}/:registrationId`: Back-Channel Logout 1.0 section 2.5 to 2.8. Needs no
 * cookie, no CSRF token and creates no session. Answers exactly 200 on success (also for sessions
 * already gone and for a replayed token), 400 with `{"error":"invalid_request",...}` otherwise (413
 * for an oversized body), always `Cache-Control: no-store`; never a 5xx for anything a caller sends.
 *
 * A verified token that cannot be applied because the session store is unavailable is kept in
 * this process and applied as soon as the store answers (`PendingLogouts`), and still answered
 * **400**: section 2.8 reserves 200 for "the logout succeeded", and it has not: the sessions are
 * still in the store that every instance reads, and the kept logout lives in this process only (a
 * restart before the store is back loses it). A 400 tells the OP the truth, so that one that retries
 * (or alerts) does; a retry is harmless (the same `jti` is one pending entry, and once applied a
 * replay is acknowledged with 200). Nothing passes meanwhile: the guard answers 503 while the store
 * is down, and this instance's guard refuses the sessions the kept logout names once it is back.
 *
 * @internal
 */
@Injectable()
export class BackChannelLogoutHandler implements NestMiddleware {
  private readonly logger = new Logger('OidcBackChannelLogout');

  constructor(
    private readonly backChannel: BackChannelLogoutService,
    private readonly telemetry: OidcTelemetry,
  ) {}

  /** Handles the request in a span of its own (`oidc_logout back-channel`). */
  use(request: RoutedRequest, response: ServerResponse): Promise<void> {
    const registrationId = registrationIdOf(request);
    return this.telemetry.inSpan(SPAN.backChannel, registrationId, () =>
      this.handle(request, response, registrationId),
    );
  }

  private async handle(
    request: RoutedRequest,
    response: ServerResponse,
    registrationId: string,
  ): Promise<void> {
    detachSession(request);
    if (request.method !== 'POST') {
      return this.reject(request, response, registrationId, 'method', 400, 'use POST', {
        headers: { Allow: 'POST' },
      });
    }
    if (!isFormUrlEncoded(request)) {
      return this.reject(
        request,
        response,
        registrationId,
        'content_type',
        400,
        'the body must be application/x-www-form-urlencoded',
      );
    }
    const encoding = contentEncodingProblem(request);
    if (encoding !== undefined) {
      return this.reject(request, response, registrationId, 'content_encoding', 400, encoding);
    }
    const charset = charsetProblem(request);
    if (charset !== undefined) {
      return this.reject(request, response, registrationId, 'charset', 400, charset);
    }
    const read = logoutTokenField(request);
    const field = read instanceof Promise ? await read : read;
    if (!field.ok) {
      return this.reject(request, response, registrationId, 'body', field.status, field.problem);
    }
    let result: BackChannelLogoutResult;
    try {
      result = await this.backChannel.handleLogoutToken(registrationId, field.value);
    } catch (error) {
      return this.fail(request, response, registrationId, error);
    }
    this.logger.log({
      event: 'oidc_back_channel_logout',
      registrationId: result.registrationId,
      sessions: result.sessions.length,
      replayed: result.replayed,
    });
    this.telemetry.logoutRequest(
      'back-channel',
      result.registrationId,
      result.replayed ? 'replayed' : 'applied',
    );
    sendEmptyOk(response);
  }

  /**
   * Runs first in the app's middleware stack for the back-channel paths (see
   * `installExpressReadAhead`): reads the body, at most {@link BACK_CHANNEL_MAX_BODY_BYTES} counted as
   * the bytes arrive, before any body parser the app mounted globally can, and keeps it for
   * {@link use}. A body over the bound is answered 413 at once, in the spec's shape, and the
   * connection closed: the rest is never read.
   */
  async readAhead(request: RoutedRequest, response: ServerResponse, next: () => void) {
    if (!hasUnreadBody(request)) return next();
    let body: Buffer | undefined;
    try {
      body = await readBoundedBody(request, BACK_CHANNEL_MAX_BODY_BYTES);
    } catch {
      return this.reject(request, response, registrationIdOf(request), 'body', 400, UNREADABLE);
    }
    if (body === undefined) {
      return this.reject(request, response, registrationIdOf(request), 'body', 413, TOO_LARGE);
    }
    keepReadBody(request, body);
    next();
  }

  private fail(
    request: RoutedRequest,
    response: ServerResponse,
    registrationId: string,
    error: unknown,
  ): void {
    if (error instanceof LogoutTokenError) {
      // The OP's keys could not be fetched: the token may well be good; the library failed.
      const result = error.reason === 'jwks_unavailable' ? 'failed' : 'refused';
      return this.reject(request, response, registrationId, error.reason, 400, error.message, {
        result,
      });
    }
    if (!(error instanceof OidcLogoutError)) {
      this.logger.error({ event: 'oidc_back_channel_logout_failed', error: errorType(error) });
      this.telemetry.logoutRequest('back-channel', registrationId, 'failed', errorType(error));
      return sendOAuthError(response, 400, 'the logout could not be processed');
    }
    switch (error.code) {
      case 'ERR_UNKNOWN_REGISTRATION':
        return this.reject(
          request,
          response,
          '',
          'unknown_registration',
          400,
          'unknown client registration',
        );
      case 'ERR_DISCOVERY_FAILED':
        this.logger.error({
          event: 'oidc_back_channel_logout_failed',
          registrationId,
          reason: 'op_unavailable',
        });
        this.telemetry.logoutRequest('back-channel', registrationId, 'failed', 'op_unavailable');
        return sendOAuthError(
          response,
          400,
          "the OP's metadata or keys are unavailable; the token could not be verified",
        );
      case 'ERR_REPOSITORY_UNAVAILABLE':
        return this.storeUnavailable(response, registrationId, error);
      case 'ERR_INVALID_REQUEST':
        // The only one handleLogoutToken throws: back-channel logout disabled for the registration.
        return this.reject(
          request,
          response,
          registrationId,
          'back_channel_disabled',
          400,
          error.message,
        );
      default:
        return this.reject(request, response, registrationId, error.code, 400, error.message);
    }
  }

  /** The store failed: 400 (the spec has no other code), saying whether the logout is kept. */
  private storeUnavailable(
    response: ServerResponse,
    registrationId: string,
    error: OidcLogoutError,
  ): void {
    // The guard keeps failing closed meanwhile.
    const queued = error instanceof PendingLogoutError && error.queued;
    this.logger.error({
      event: 'oidc_back_channel_logout_failed',
      registrationId,
      reason: 'repository_unavailable',
      queued,
    });
    this.telemetry.logoutRequest(
      'back-channel',
      registrationId,
      'failed',
      'repository_unavailable',
    );
    sendOAuthError(
      response,
      400,
      queued
        ? 'the session store is unavailable; the logout was not applied yet, it is kept and applied when the store is back'
        : 'the session store is unavailable; the logout was not applied',
    );
  }

  /**
   * Answers a refused request and logs one structured line: the reason, never a token or an id. A
   * body left unread is not read afterwards: the connection is closed instead, shortly after the
   * answer (see `sendOAuthErrorAndClose`).
   */
  private reject(
    request: RoutedRequest,
    response: ServerResponse,
    registrationId: string,
    reason: string,
    status: number,
    description: string,
    { headers, result = 'refused' }: RejectOptions = {},
  ): void {
    this.logger.warn({
      event: 'oidc_back_channel_logout_rejected',
      registrationId: safeId(registrationId),
      reason,
    });
    this.telemetry.logoutRequest('back-channel', registrationId, result, reason);
    if (hasUnreadBody(request)) sendOAuthErrorAndClose(response, status, description, headers);
    else sendOAuthError(response, status, description, headers);
  }
}

/** How {@link BackChannelLogoutHandler.reject} answers and counts. */
interface RejectOptions {
  headers?: Record<string, string>;
  /** `failed` when the library could not judge the request (the OP's keys were unavailable). */
  result?: 'refused' | 'failed';
}

const UNREADABLE = 'the body could not be read';
const TOO_LARGE = `the body is larger than ${BACK_CHANNEL_MAX_BODY_BYTES} bytes`;
const UNREADABLE_BODY: FormField = { ok: false, status: 400, problem: UNREADABLE };

/** The `logout_token` form field; without waiting when Express has parsed the body already. */
function logoutTokenField(request: RoutedRequest): FormField | Promise<FormField> {
  try {
    const parsed = readParsedFormField(request, 'logout_token', BACK_CHANNEL_MAX_BODY_BYTES);
    if (parsed !== undefined) return parsed;
  } catch {
    return UNREADABLE_BODY;
  }
  return readFormField(request, 'logout_token', BACK_CHANNEL_MAX_BODY_BYTES).catch(
    () => UNREADABLE_BODY,
  );
}

/**
 * The OP's request is machine-to-machine: an app-wide session middleware (express-session with
 * `saveUninitialized: true`) must neither create nor touch a session for it. express-session saves
 * nothing and sets no cookie for a request whose `session` is gone.
 */
function detachSession(request: RoutedRequest & { session?: unknown }): void {
  if (request.session !== undefined) request.session = undefined;
}

/** A registration id from the URL, fit for a log line (it is caller-controlled). */
function safeId(value: string): string {
  return /^[A-Za-z0-9._-]{1,64}$/.test(value) ? value : '(invalid)';
}
