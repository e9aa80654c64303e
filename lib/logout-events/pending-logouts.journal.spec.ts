import { Logger } from '@nestjs/common';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { OidcSessionRepositoryError } from '../errors/oidc-logout.error';
import type { ResolvedClientRegistration } from '../options/resolved-oidc-logout-options';
import type { PendingOperation } from './pending-operation';
import { PendingLogoutJournal } from './pending-logout-journal';
import { PendingLogouts } from './pending-logouts';

const registration = {
  registrationId: 'main',
  issuer: 'https://op.example',
  clientId: 'app',
} as ResolvedClientRegistration;

const logout = (sid: string): PendingOperation => ({
  kind: 'logout',
  registration,
  logout: { sid, sub: 'u1', jti: `jti-${sid}`, jtiExpiresAt: new Date(5_000), issuedAt: 4 },
});

const down = () => Promise.reject(new OidcSessionRepositoryError('down'));

describe('PendingLogouts: journal, reports and losses', () => {
  let directory: string;
  let logs: { level: string; message: unknown }[];

  beforeEach(() => {
    vi.useFakeTimers();
    directory = mkdtempSync(join(tmpdir(), 'pending-journal-'));
    logs = [];
    for (const level of ['log', 'warn', 'error'] as const) {
      vi.spyOn(Logger.prototype, level).mockImplementation((message: unknown) => {
        logs.push({ level, message });
      });
    }
  });
  afterEach(() => {
    vi.useRealTimers();
    vi.restoreAllMocks();
    rmSync(directory, { recursive: true, force: true });
  });

  const events = () => logs.map((entry) => (entry.message as { event?: string }).event);

  it('journals a kept logout (mode 0600), and a new queue on the same file applies it', async () => {
    const journal = join(directory, 'pending.journal');
    const first = new PendingLogouts({ apply: down, journal, registrations: [registration] });
    expect(first.add('k1', logout('s1'), Date.now() + 60_000)).toBe(true);
    expect(statSync(journal).mode & 0o777).toBe(0o600);
    expect(readFileSync(journal, 'utf8')).toContain('"registrationId":"main"');
    expect(first.close('shutdown')).toBe(1);
    expect(events()).toContain('oidc_pending_logout_journaled');
    expect(events()).not.toContain('oidc_pending_logout_lost');

    const applied: PendingOperation[] = [];
    const second = new PendingLogouts({
      apply: (operation) => {
        applied.push(operation);
        return Promise.resolve();
      },
      journal,
      registrations: [registration],
    });
    second.start();
    expect(second.size).toBe(1);
    await vi.advanceTimersByTimeAsync(10);
    expect(applied).toMatchObject([logout('s1')]);
    expect(second.size).toBe(0);
    expect(readFileSync(journal, 'utf8')).toBe('');
    second.close();
  });

  it('skips a torn last line and an entry of an unknown registration', () => {
    const journal = join(directory, 'pending.journal');
    const line = (key: string, registrationId: string) =>
      JSON.stringify({
        op: 'add',
        entry: {
          key,
          since: 1,
          keepUntil: Date.now() + 60_000,
          operation: { kind: 'logout', registrationId, logout: { sid: 's', jti: key } },
        },
      });
    writeFileSync(journal, `${line('a', 'main')}\n${line('b', 'gone')}\n{"op":"add","ent`);
    const queue = new PendingLogouts({ apply: down, journal, registrations: [registration] });
    queue.start();
    expect(queue.size).toBe(1);
    queue.close();
  });

  it('appends after a torn last line without gluing the new line to it (compaction failed or not run)', () => {
    const journal = join(directory, 'pending.journal');
    // A crash mid-write, and no compaction since (it failed: a read-only directory, a full disk).
    writeFileSync(journal, '{"op":"add","entry":{"key":"a","since":1,"keep');
    const writer = new PendingLogoutJournal(journal);
    writer.added({
      key: 'b',
      since: 1,
      keepUntil: Date.now() + 60_000,
      operation: { kind: 'forget-login' },
    });
    writer.close();
    expect(new PendingLogoutJournal(journal).load().map((entry) => entry.key)).toEqual(['b']);
  });

  it('without a journal, close logs the loss with the count and the age of the oldest', () => {
    const queue = new PendingLogouts({ apply: down });
    queue.add('k1', logout('s1'), Date.now() + 60_000);
    vi.advanceTimersByTime(0);
    expect(queue.close('SIGTERM')).toBe(1);
    const message = logs.find(
      (entry) => (entry.message as { event?: string }).event === 'oidc_pending_logout_lost',
    )?.message as Record<string, unknown>;
    expect(message).toMatchObject({ reason: 'SIGTERM', pending: 1 });
    expect(JSON.stringify(message)).not.toContain('s1');
  });

  it('warns every reportEveryMs while logouts are pending, and tells the oldest', async () => {
    const queue = new PendingLogouts({
      apply: down,
      firstRetryMs: 100,
      maxRetryMs: 100,
      reportEveryMs: 1_000,
    });
    const since = Date.now();
    queue.add('k1', logout('s1'), since + 60_000);
    expect(queue.oldestSince).toBe(since);
    await vi.advanceTimersByTimeAsync(2_550);
    const reports = logs.filter(
      (entry) => (entry.message as { event?: string }).event === 'oidc_pending_logouts',
    );
    expect(reports).toHaveLength(3);
    expect(reports[0]?.message).toMatchObject({ pending: 1 });
    queue.close();
    expect(queue.oldestSince).toBeUndefined();
  });
});
