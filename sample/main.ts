import { relative } from 'node:path';
import { PortInUseError } from './ports';
import { SampleConfigError, sampleOptionsFromEnv } from './sample-env';
import { startSample, type RunningSample } from './start-sample';

/**
 * `npm start`: an embedded OpenID Provider and two Nest apps, Portal and Games, that use the library
 * (see sample/README.md). Single sign-on and single sign-out can be watched in a browser.
 */
async function main(): Promise<void> {
  const options = sampleOptionsFromEnv(process.env);
  const sample = await startSample(options);
  console.log(instructions(sample, relative(process.cwd(), options.dataDir) || options.dataDir));
  stopOnSignals(sample);
}

function instructions(sample: RunningSample, dataDir: string): string {
  const { portal, games } = sample;
  const op = sample.embeddedOp
    ? `${sample.issuer}  (embedded oidc-provider)`
    : `${sample.issuer}  (external)`;
  return [
    '',
    'nest-oidc-logout sample: single sign-on and single sign-out across two Nest apps',
    '',
    `  OpenID Provider  ${op}`,
    `  Portal           ${portal.url}`,
    `  Games            ${games.url}`,
    `  Metrics          ${sample.metrics.url}  (Prometheus, both apps)`,
    `  SQLite files     ${dataDir}`,
    '',
    'Try it in a browser:',
    `  1. Open the Portal, ${portal.url}, and log in` +
      (sample.embeddedOp ? ' (any user name and password).' : '.'),
    `  2. Open Games, ${games.url}: you are logged in without a second login (single sign-on).`,
    '  3. Log out in the Portal: the "Log out" button, then confirm at the OP.',
    '  4. Reload Games: you are logged out (single sign-out). Its page lists the back-channel logout',
    '     it received; logouts are also printed here.',
    `  5. Open the metrics, ${sample.metrics.url}: the oidc_logout_* series count the logouts,`,
    "     the sessions they ended and the guard's decisions.",
    '',
    `Ctrl-C stops ${sample.embeddedOp ? 'all three' : 'both apps'}.`,
  ].join('\n');
}

/** Ctrl-C (SIGINT) or SIGTERM: stop the apps and the OP, then let the process end by itself. */
function stopOnSignals(sample: RunningSample): void {
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      console.error(`${signal} again: exiting at once.`);
      process.exit(130);
    }
    stopping = true;
    console.log(`\n${signal}: stopping...`);
    // Should something keep the process alive, say so and exit rather than hang.
    setTimeout(() => {
      console.error('Something was still running 5 s after stopping; exiting.');
      process.exit(1);
    }, 5000).unref();
    sample.close().then(
      () => console.log('Stopped.'),
      (error: unknown) => {
        console.error('Stopping failed:', error);
        process.exitCode = 1;
      },
    );
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  if (error instanceof PortInUseError || error instanceof SampleConfigError) {
    console.error(error.message);
  } else {
    console.error(error);
  }
  process.exit(1);
});
