import { describe, expect, it } from 'vitest';
import type { SessionRequest } from './request-session';
import { markLoginRecorded } from './login-in-progress';
import {
  carrySessionLoginMark,
  clearSessionLoginMark,
  markSessionLoggedIn,
  SESSION_LOGIN_MARK,
  sessionHadLogin,
} from './session-login-mark';

describe('the session mark of a recorded login', () => {
  it('is written in the session by the request mark of a recorded login, and survives serialisation', () => {
    const request: SessionRequest = { sessionID: 's', session: {} };
    expect(sessionHadLogin(request)).toBe(false);
    markLoginRecorded(request, 's');
    expect(sessionHadLogin(request)).toBe(true);
    const stored = JSON.parse(JSON.stringify(request.session)) as SessionRequest['session'];
    expect(sessionHadLogin({ session: stored })).toBe(true);
    // A login that does not go through after all (validate refused it) takes it off again.
    clearSessionLoginMark(request);
    expect(sessionHadLogin(request)).toBe(false);
    expect(() => clearSessionLoginMark({})).not.toThrow();
  });

  it('is only exactly true: anything else, or no session, reads as no login', () => {
    for (const value of ['true', 1, {}, null, undefined]) {
      const session = { [SESSION_LOGIN_MARK]: value } as SessionRequest['session'];
      expect(sessionHadLogin({ session })).toBe(false);
    }
    expect(sessionHadLogin({})).toBe(false);
    expect(() => markSessionLoggedIn({})).not.toThrow();
  });

  it('is carried to a regenerated session only when the old one held it', () => {
    const marked = {};
    markSessionLoggedIn({ session: marked });
    const next: Record<string, unknown> = {};
    carrySessionLoginMark(marked, next);
    expect(next[SESSION_LOGIN_MARK]).toBe(true);
    const unmarked: Record<string, unknown> = {};
    carrySessionLoginMark({}, unmarked);
    expect(unmarked).toEqual({});
  });
});
