// Summarizes a CI run from vitest's JSON reports (Jest-compatible) and the exit codes of the steps.
//   node .ci/summarize.mjs [--check NAME EXIT_CODE]... [--run LABEL REPORT.json EXIT_CODE]... [--note TEXT]...
// Prints one line per check and per run, then, as its LAST line, the plain total
// `N passed, N failed` (`, N skipped` appended when some were skipped).
// A failed check, a missing or unreadable report, a file that failed outside any test and a runner
// that exited non-zero with no failed test each count as 1 failed, so the total never hides them.
// Exits 0 only when nothing failed and at least one test passed.
import { readFileSync } from 'node:fs';

const checks = [];
const runs = [];
const notes = [];
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length;) {
  const flag = argv[i];
  if (flag === '--check' && i + 2 < argv.length) {
    checks.push({ name: argv[i + 1], code: Number(argv[i + 2]) });
    i += 3;
  } else if (flag === '--run' && i + 3 < argv.length) {
    runs.push({ label: argv[i + 1], file: argv[i + 2], code: Number(argv[i + 3]) });
    i += 4;
  } else if (flag === '--note' && i + 1 < argv.length) {
    notes.push(argv[i + 1]);
    i += 2;
  } else {
    console.error(`summarize: bad arguments at ${JSON.stringify(argv.slice(i))}`);
    console.log('0 passed, 1 failed');
    process.exit(2);
  }
}

const total = { passed: 0, failed: 0, skipped: 0 };
const MAX_LISTED = 30;

for (const { name, code } of checks) {
  if (code === 0) {
    console.log(`${name}: ok`);
  } else {
    console.log(`${name}: FAILED (exit ${code}) - counted as 1 failed`);
    total.failed += 1;
  }
}

function exitMeaning(code) {
  if (code === 124 || code === 137) return `timed out (exit ${code})`;
  return `exit ${code}`;
}

for (const { label, file, code } of runs) {
  let report;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
    if (!report || typeof report !== 'object') throw new Error('not a JSON object');
  } catch (err) {
    const why =
      err && err.code === 'ENOENT'
        ? 'missing'
        : `unreadable (${String(err.message).replace(/\s+/g, ' ').slice(0, 200)})`;
    console.log(
      `${label}: report ${file} ${why}; runner ${exitMeaning(code)} - counted as 1 failed`,
    );
    total.failed += 1;
    continue;
  }

  const run = { passed: 0, failed: 0, skipped: 0 };
  const failedTests = [];
  const brokenFiles = [];
  const files = Array.isArray(report.testResults) ? report.testResults : [];
  const haveAssertions = files.some((f) => Array.isArray(f.assertionResults));
  for (const f of files) {
    const results = Array.isArray(f.assertionResults) ? f.assertionResults : [];
    let failedHere = 0;
    for (const a of results) {
      if (a.status === 'passed') run.passed += 1;
      else if (a.status === 'failed') {
        run.failed += 1;
        failedHere += 1;
        failedTests.push(`${a.fullName || a.title} (${f.name})`);
      } else run.skipped += 1; // skipped, pending, todo, disabled
    }
    // A file that failed outside its tests (import error, failing hook): count it once.
    if (f.status === 'failed' && failedHere === 0) {
      run.failed += 1;
      const msg = String(f.message || 'failed outside any test')
        .split('\n')[0]
        .slice(0, 300);
      brokenFiles.push(`${f.name}: ${msg}`);
    }
  }
  if (!haveAssertions) {
    run.passed = report.numPassedTests || 0;
    run.failed = Math.max(run.failed, report.numFailedTests || 0);
    run.skipped = (report.numPendingTests || 0) + (report.numTodoTests || 0);
  }
  let extra = '';
  if (code !== 0 && run.failed === 0) {
    run.failed += 1;
    extra = ` (+1: runner ${exitMeaning(code)} with no failed test: unhandled error, timeout or crash)`;
  } else if (code !== 0) {
    extra = ` (runner ${exitMeaning(code)})`;
  }
  if (run.passed + run.failed + run.skipped === 0) extra += ' (no tests ran)';
  console.log(
    `${label}: ${run.passed} passed, ${run.failed} failed, ${run.skipped} skipped${extra}`,
  );
  for (const t of failedTests.slice(0, MAX_LISTED)) console.log(`  FAILED ${t}`);
  if (failedTests.length > MAX_LISTED)
    console.log(`  ... and ${failedTests.length - MAX_LISTED} more`);
  for (const b of brokenFiles.slice(0, MAX_LISTED)) console.log(`  FILE FAILED ${b}`);
  total.passed += run.passed;
  total.failed += run.failed;
  total.skipped += run.skipped;
}

if (total.passed === 0 && total.failed === 0) notes.push('no test ran: CI fails');
for (const n of notes) console.log(`NOTE: ${n}`);
console.log(
  `${total.passed} passed, ${total.failed} failed` +
    (total.skipped > 0 ? `, ${total.skipped} skipped` : ''),
);
process.exit(total.failed === 0 && total.passed > 0 ? 0 : 1);
