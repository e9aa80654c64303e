import { describe, expect, it } from 'vitest';
import { hashSid } from '../repositories/session-id-hash';
import { clearSidOf } from './session-sid';

/** An ID token as recorded (its signature is not looked at here). */
const idToken = (payload: object) =>
  [{ alg: 'RS256' }, payload]
    .map((part) => Buffer.from(JSON.stringify(part)).toString('base64url'))
    .concat('signature')
    .join('.');

describe('clearSidOf', () => {
  it("reads the sid from the record's ID token when the record's digest is that sid's", () => {
    expect(clearSidOf({ sid: hashSid('op-sid'), idToken: idToken({ sid: 'op-sid' }) })).toBe(
      'op-sid',
    );
  });

  it('gives nothing for a record without sid, a digest of another sid, or an unreadable token', () => {
    expect(clearSidOf({ idToken: idToken({ sid: 'op-sid' }) })).toBeUndefined();
    expect(
      clearSidOf({ sid: hashSid('other'), idToken: idToken({ sid: 'op-sid' }) }),
    ).toBeUndefined();
    expect(clearSidOf({ sid: 'op-sid', idToken: idToken({ sid: 'op-sid' }) })).toBeUndefined();
    expect(clearSidOf({ sid: hashSid('op-sid'), idToken: idToken({ sid: 42 }) })).toBeUndefined();
    expect(clearSidOf({ sid: hashSid('op-sid'), idToken: 'not a jwt' })).toBeUndefined();
  });
});
