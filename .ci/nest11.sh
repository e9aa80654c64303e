#!/usr/bin/env bash
# shellcheck disable=SC2016  # single-quoted backticks and ${} are meant literally (messages, node -e)
# NestJS 11 matrix: copy the tree (node_modules included, .git left out) into a temp dir, install there
# the ^11 major of every @nestjs package in package.json's devDependencies (nothing is saved), prove the
# major, and run the e2e project against it. The repo itself is not touched.
# Usage: bash .ci/nest11.sh [REPORT.json]   (after `npm ci`; the services must be up, as .ci/run leaves them)
# NEST11_VITEST_ARGS='test/e2e/some.e2e-spec.ts' runs only those tests.
# Without REPORT it writes one to a temp dir and prints its own `N passed, N failed` line.
set -euo pipefail

report=${1:-}
standalone=0
if [ -z "$report" ]; then
  standalone=1
  report="$(mktemp -d "${TMPDIR:-/tmp}/oidc-logout-nest11-report.XXXXXX")/nest11.json"
fi
report=$(realpath -m "$report")
rm -f "$report"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
export OIDC_LOGOUT_TEST_POSTGRES="${OIDC_LOGOUT_TEST_POSTGRES:-1}"
export OIDC_LOGOUT_TEST_MARIADB="${OIDC_LOGOUT_TEST_MARIADB:-1}"
export OIDC_LOGOUT_TEST_REDIS="${OIDC_LOGOUT_TEST_REDIS:-1}"
INSTALL_TIMEOUT=900
TEST_TIMEOUT=1500
# Extra arguments for vitest (e.g. a file filter when trying the script on a few tests).
read -r -a vitest_args <<<"${NEST11_VITEST_ARGS:-}"

finish() {
  local rc=$1
  if [ "$standalone" = 1 ]; then
    rc=0
    node "$ROOT/.ci/summarize.mjs" --run nest11 "$report" "$1" || rc=$?
  fi
  exit "$rc"
}

if [ ! -d node_modules ]; then
  echo 'nest11: node_modules is missing: run `npm ci` first' >&2
  finish 1
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/oidc-logout-nest11.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
copy="$WORK/main"
mkdir "$copy"
echo "nest11: copying the tree to $copy"
tar -C "$ROOT" --exclude=./.git --exclude=./node_modules -cf - . | tar -C "$copy" -xf -
# node_modules may be a link (a worktree's): copy what it points to, so that the install below never
# writes through the link; the links inside it are kept.
mkdir "$copy/node_modules"
tar -C "$(realpath node_modules)" -cf - . | tar -C "$copy/node_modules" -xf -
# Keep ../shared reachable from the copy, as it is from the repo.
if [ -d "$ROOT/../shared" ]; then ln -s "$(cd "$ROOT/../shared" && pwd)" "$WORK/shared"; fi
cd "$copy"

mapfile -t pkgs < <(node -e '
  const dev = require("./package.json").devDependencies || {};
  for (const name of Object.keys(dev).filter((n) => n.startsWith("@nestjs/")).sort()) console.log(name + "@^11");
')
if [ ${#pkgs[@]} -eq 0 ]; then
  echo 'nest11: no @nestjs packages in devDependencies' >&2
  finish 1
fi
echo "nest11: npm install --no-save ${pkgs[*]}"
if ! timeout "$INSTALL_TIMEOUT" npm install --no-save --no-audit --no-fund "${pkgs[@]}" </dev/null; then
  echo 'nest11: npm install of the NestJS 11 packages failed' >&2
  finish 1
fi

# npm ls exits non-zero here because the versions do not satisfy package.json's ^12: only print it.
npm ls @nestjs/core 2>/dev/null || true
if ! node -e '
  const fs = require("fs");
  const names = process.argv.slice(1).map((s) => s.replace(/@\^11$/, ""));
  let ok = true;
  for (const name of names) {
    const { version } = JSON.parse(fs.readFileSync(`node_modules/${name}/package.json`, "utf8"));
    const good = version.split(".")[0] === "11";
    ok &&= good;
    console.log(`${good ? "ok " : "BAD"} ${name}@${version}`);
  }
  process.exit(ok ? 0 : 1);
' "${pkgs[@]}"; then
  echo 'nest11: some @nestjs package is not at major 11' >&2
  finish 1
fi

extra=()
if [ -z "$(find test -name '*.e2e-spec.ts' -print -quit 2>/dev/null)" ]; then
  echo 'nest11: NOTICE: no test/**/*.e2e-spec.ts yet: running with --passWithNoTests (0 tests)'
  extra=(--passWithNoTests)
fi
# The project's own e2e command when it has one: it knows where the vitest config lives.
if node -e 'process.exit(require("./package.json").scripts?.["test:e2e"] ? 0 : 1)'; then
  e2e=(npm run test:e2e --)
else
  e2e=(npx --no-install vitest run --config .config/vitest.config.mts --project e2e)
fi
echo "nest11: ${e2e[*]}"
rc=0
timeout -k 30 "$TEST_TIMEOUT" "${e2e[@]}" "${extra[@]}" "${vitest_args[@]}" \
  --reporter=default --reporter=json --outputFile.json="$report" </dev/null || rc=$?
finish "$rc"
