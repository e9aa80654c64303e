import { HttpException } from '@nestjs/common';
import { describe, expect, it } from 'vitest';
import {
  OIDC_LOGOUT_ERROR_STATUS,
  OidcLogoutError,
  OidcSessionRepositoryError,
  type OidcLogoutErrorCode,
} from './oidc-logout.error';

describe('OidcLogoutError', () => {
  it('is an HttpException whose status comes from its code', () => {
    const expected: Record<OidcLogoutErrorCode, number> = {
      ERR_OIDC_LOGOUT_GENERIC: 500,
      ERR_INVALID_OPTIONS: 500,
      ERR_UNKNOWN_REGISTRATION: 400,
      ERR_DISCOVERY_FAILED: 503,
      ERR_ID_TOKEN_INVALID: 401,
      ERR_LOGOUT_TOKEN_INVALID: 400,
      ERR_INVALID_REQUEST: 400,
      ERR_NO_SESSION: 401,
      ERR_SESSION_ENDED: 401,
      ERR_REPOSITORY_UNAVAILABLE: 503,
    };
    expect(OIDC_LOGOUT_ERROR_STATUS).toEqual(expected);
    for (const [code, status] of Object.entries(expected)) {
      const error = new OidcLogoutError(code as OidcLogoutErrorCode, 'why');
      expect(error).toBeInstanceOf(HttpException);
      expect(error).toBeInstanceOf(Error);
      expect(error.getStatus()).toBe(status);
      expect(error.code).toBe(code);
      expect(error.message).toBe('why');
    }
  });

  it('answers a 4xx with its message, a 5xx with a fixed sentence; never a cause or stack', () => {
    expect(new OidcLogoutError('ERR_SESSION_ENDED', 'ended').getResponse()).toEqual({
      statusCode: 401,
      error: 'ERR_SESSION_ENDED',
      message: 'ended',
    });
    const cause = new Error('connect ECONNREFUSED 10.0.0.5:5432');
    const failed = new OidcSessionRepositoryError('The repository failed at host db-1', { cause });
    expect(failed.name).toBe('OidcSessionRepositoryError');
    expect(failed.cause).toBe(cause);
    expect(failed.message).toBe('The repository failed at host db-1');
    const body = JSON.stringify(failed.getResponse());
    expect(JSON.parse(body)).toEqual({
      statusCode: 503,
      error: 'ERR_REPOSITORY_UNAVAILABLE',
      message: 'The identity provider or the session store is unavailable; try again later',
    });
    expect(body).not.toMatch(/db-1|ECONNREFUSED|stack/);
  });
});
