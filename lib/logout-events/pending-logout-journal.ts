import {
  closeSync,
  fchmodSync,
  fstatSync,
  fsyncSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';

/** One journaled operation, as {@link PendingLogoutJournal} writes and reads it back. @internal */
export interface JournalEntry {
  key: string;
  since: number;
  keepUntil: number;
  /** The operation, with plain JSON values (registration by id, dates as epoch ms). */
  operation: Record<string, unknown>;
}

type JournalLine = { op: 'add'; entry: JournalEntry } | { op: 'done'; key: string };

/** The mode of the journal file: the sid and sub of the logouts it keeps are for the app alone. */
const JOURNAL_MODE = 0o600;

/**
 * An append-only file of the pending logouts (`pendingLogoutJournal`): a line per kept operation
 * (`add`) and per operation applied or dropped (`done`), each written and fsync'd before the caller
 * goes on, so that a crash right after the back-channel endpoint answered loses nothing. Read back
 * (and compacted) at startup. Holds only what applying needs: never a logout token.
 *
 * @internal
 */
export class PendingLogoutJournal {
  private fd: number | undefined;
  /** Whether the file may end in a torn line: the next line starts on a line of its own. */
  private mayBeTorn = false;

  constructor(private readonly path: string) {}

  /** The operations still pending in the file (a torn last line from a crash is skipped). */
  load(): JournalEntry[] {
    let text: string;
    try {
      text = readFileSync(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const entries = new Map<string, JournalEntry>();
    for (const line of text.split('\n')) {
      if (line === '') continue;
      let parsed: JournalLine;
      try {
        parsed = JSON.parse(line) as JournalLine;
      } catch {
        continue;
      }
      if (parsed.op === 'add' && isEntry(parsed.entry)) entries.set(parsed.entry.key, parsed.entry);
      else if (parsed.op === 'done' && typeof parsed.key === 'string') entries.delete(parsed.key);
    }
    return [...entries.values()];
  }

  /** Rewrites the file with `entries` alone (atomically: a new file renamed over the old one). */
  rewrite(entries: readonly JournalEntry[]): void {
    this.close();
    const temporary = `${this.path}.${process.pid}.tmp`;
    const fd = openSync(temporary, 'w', JOURNAL_MODE);
    try {
      fchmodSync(fd, JOURNAL_MODE);
      const text = entries.map((entry) => `${JSON.stringify({ op: 'add', entry })}\n`).join('');
      if (text !== '') writeSync(fd, text);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temporary, this.path);
  }

  /** Appends that `entry` is pending, durably. */
  added(entry: JournalEntry): void {
    this.append({ op: 'add', entry });
  }

  /** Appends that the operation of `key` is applied (or dropped), durably. */
  done(key: string): void {
    this.append({ op: 'done', key });
  }

  close(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }

  private append(line: JournalLine): void {
    if (this.fd === undefined) {
      this.fd = openSync(this.path, 'a+', JOURNAL_MODE);
      fchmodSync(this.fd, JOURNAL_MODE);
      // A crash mid-write left a torn last line (and no compaction removed it since): the next
      // line must not be glued to it, or both would be lost at the next load.
      this.mayBeTorn = !endsWithNewline(this.fd);
    }
    const text = `${this.mayBeTorn ? '\n' : ''}${JSON.stringify(line)}\n`;
    this.mayBeTorn = true;
    writeSync(this.fd, text);
    fsyncSync(this.fd);
    this.mayBeTorn = false;
  }
}

/** Whether the file of `fd` is empty or ends with a newline. */
function endsWithNewline(fd: number): boolean {
  const { size } = fstatSync(fd);
  if (size === 0) return true;
  const last = Buffer.alloc(1);
  readSync(fd, last, 0, 1, size - 1);
  return last[0] === 0x0a;
}

function isEntry(value: unknown): value is JournalEntry {
  if (typeof value !== 'object' || value === null) return false;
  const entry = value as Record<string, unknown>;
  return (
    typeof entry.key === 'string' &&
    typeof entry.since === 'number' &&
    typeof entry.keepUntil === 'number' &&
    typeof entry.operation === 'object' &&
    entry.operation !== null
  );
}
