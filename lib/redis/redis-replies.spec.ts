import { describe, expect, it } from 'vitest';
import { epochMs, sessionFromFields } from './redis-replies';

const WHOLE = ['main', 'https://op', 'app', 'sha256:sid', 'user', 'id.token', '1763700000000', '1'];

describe('Redis replies', () => {
  it('reads integers only, as Redis holds them', () => {
    expect(epochMs('1763700000000')).toBe(1_763_700_000_000);
    expect(epochMs(12)).toBe(12);
    for (const bad of ['', '1.5', '1e12', ' 1', '99999999999999999', null, undefined, {}]) {
      expect(epochMs(bad)).toBeUndefined();
    }
  });

  it('builds a whole record, with or without sid', () => {
    const info = sessionFromFields('id', WHOLE);
    expect(info).toEqual({
      clientSessionId: 'id',
      registrationId: 'main',
      issuer: 'https://op',
      clientId: 'app',
      sid: 'sha256:sid',
      sub: 'user',
      idToken: 'id.token',
      expiresAt: new Date(1_763_700_000_000),
      createdAt: new Date(1),
    });
    const withoutSid = sessionFromFields(
      'id',
      WHOLE.map((v, i) => (i === 3 ? null : v)),
    );
    expect(withoutSid).toBeDefined();
    expect(withoutSid).not.toHaveProperty('sid');
  });

  it('reads anything less than a whole record as no record', () => {
    for (let field = 0; field < WHOLE.length; field++) {
      if (field === 3) continue;
      const missing = WHOLE.map((v, i) => (i === field ? null : v));
      expect(sessionFromFields('id', missing), `field ${field}`).toBeUndefined();
    }
    expect(
      sessionFromFields(
        'id',
        WHOLE.map((v, i) => (i === 6 ? 'soon' : v)),
      ),
    ).toBeUndefined();
    expect(
      sessionFromFields(
        'id',
        WHOLE.map((v, i) => (i === 3 ? 7 : v)),
      ),
    ).toBeUndefined();
    expect(sessionFromFields('id', [])).toBeUndefined();
  });
});
