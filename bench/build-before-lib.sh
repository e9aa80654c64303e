#!/usr/bin/env bash
# Builds the telemetry section's app process (bench/telemetry-app.ts, as it is now) against the
# library of an earlier commit, for the section's "before" route:
#   bash bench/build-before-lib.sh <commit>
#   BENCH_TELEMETRY_BEFORE=build/bench-before/out/bench/telemetry-app.js BENCH_SECTIONS=telemetry npm run bench
# BENCH_BEFORE_DIR (two levels under the root, build/bench-before by default) builds elsewhere: a
# control built from HEAD keeps the real "before" build. Run from the repository's root, after npm
# ci; the commit's lib/ must have what the bench uses
# (its in-memory stores, OidcLogoutModule, OidcSessionGuard, lib/typeorm, lib/redis).
set -euo pipefail
rev=${1:?usage: bash bench/build-before-lib.sh <commit>}
dir=${BENCH_BEFORE_DIR:-build/bench-before}
rm -rf "$dir"
mkdir -p "$dir/src/test"
git archive "$rev" lib | tar -x -C "$dir/src"
cp -r bench "$dir/src/bench"
cp -r test/fixtures "$dir/src/test/fixtures"
cat >"$dir/src/tsconfig.json" <<'JSON'
{
  "extends": "../../../tsconfig.json",
  "compilerOptions": { "rootDir": ".", "outDir": "../out", "declaration": false },
  "files": ["bench/telemetry-app.ts"],
  "include": []
}
JSON
npx tsc -p "$dir/src/tsconfig.json"
echo "built $dir/out/bench/telemetry-app.js against lib/ of $(git rev-parse --short "$rev")"
