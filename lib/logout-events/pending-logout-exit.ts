/**
 * Last words of a process that stops while logouts are pending: every way out logs what it loses.
 *
 * - Nest's shutdown hooks (`app.enableShutdownHooks()`) close the module: `PendingLogouts.close`
 *   logs there.
 * - `process.exit()`, the end of the event loop, an uncaught exception: the `'exit'` event.
 * - SIGTERM and SIGINT when nothing else in the app listens to them (no `enableShutdownHooks()`):
 *   Node's default ends the process without an `'exit'` event. A listener logs, then removes
 *   itself and raises the signal again, so that the process ends exactly as the default would (same
 *   signal, same exit status). When the app has listeners of its own they decide: this one does
 *   nothing then.
 *
 * The listeners are installed only while some queue holds operations, and removed when the last
 * one is empty: an app with nothing pending runs with Node's and its own signal handling untouched.
 * SIGKILL cannot be caught: only the journal (`pendingLogoutJournal`) keeps logouts through it.
 *
 * @internal
 */

/** A queue with operations pending at exit. */
export interface ExitWatcher {
  /** Logs what is lost (or journaled) when the process ends now, with `reason`. */
  processEnding(reason: string): void;
}

const SIGNALS: readonly NodeJS.Signals[] = ['SIGTERM', 'SIGINT'];
const watchers = new Set<ExitWatcher>();

function onExit(): void {
  for (const watcher of watchers) watcher.processEnding('process_exit');
}

function onSignal(signal: NodeJS.Signals): void {
  // Other listeners (the app's, Nest's shutdown hooks) handle the signal: theirs is the decision.
  if (process.listenerCount(signal) > 1) return;
  for (const watcher of watchers) watcher.processEnding(signal);
  uninstall();
  // Node's default for the signal: the process ends by it.
  process.kill(process.pid, signal);
}

let installed = false;

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', onExit);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstall(): void {
  if (!installed) return;
  installed = false;
  process.removeListener('exit', onExit);
  for (const signal of SIGNALS) process.removeListener(signal, onSignal);
}

/** Watches the process's end for `watcher` (while it has operations pending). */
export function watchExit(watcher: ExitWatcher): void {
  watchers.add(watcher);
  install();
}

/** Stops watching for `watcher` (its queue is empty, or closed). */
export function unwatchExit(watcher: ExitWatcher): void {
  watchers.delete(watcher);
  if (watchers.size === 0) uninstall();
}
