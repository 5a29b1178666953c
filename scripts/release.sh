#!/usr/bin/env bash
# `pnpm release`: versions, builds, checks and publishes every @assured/* package (one
# version for all: the changesets `fixed` group). See CONTRIBUTING.md ("Releasing").
#   1. changeset version   — applies the pending changesets: versions and CHANGELOG.md files
#   2. build               — every package from scratch (dist/ removed, no turbo cache)
#   3. package checks      — publint and attw (check:package), then the tarball checks of
#                            `pnpm release:dry-run` (dist/ shipped, no tests, imports declared)
#   4. changeset publish   — `pnpm publish` of each package whose version is not on the
#                            registry yet (workspace: and catalog: ranges rewritten), git tags
# It stops at the first failure; after step 1 the version changes are in the work tree, to
# commit (or discard) by hand.
set -euo pipefail
cd "$(dirname "$0")/.."
export TURBO_TELEMETRY_DISABLED=1 DO_NOT_TRACK=1

if [ -n "$(git status --porcelain)" ]; then
  echo "release: the work tree has uncommitted changes; commit or discard them first" >&2
  exit 1
fi
if ! npm whoami >/dev/null 2>&1; then
  echo "release: not logged in to the npm registry; run \"npm login\" first" >&2
  exit 1
fi

pnpm changeset version
rm -rf packages/*/dist
pnpm turbo run build --force --output-logs=errors-only
pnpm turbo run check:package --force --output-logs=errors-only
node scripts/release-dry-run.mjs
pnpm changeset publish
echo "release: published. Commit the version changes and push the tags: git push --follow-tags"
