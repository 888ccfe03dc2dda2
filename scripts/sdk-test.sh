#!/usr/bin/env bash
# make sdk / make test-sdk: builds the TypeScript SDK (sdk/js) and, with
# "test", runs its tests and every code block of the seed documents
# (sdk/seeds) against a fresh all-in-one built from this tree. Installs
# Debian's nodejs and npm first when they are missing and we are root.
set -euo pipefail
cd "$(dirname "$0")/.."

node_ok() {
	command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1 &&
		[ "$(node -p 'Number(process.versions.node.split(".")[0])')" -ge 18 ]
}
if ! node_ok; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "sdk: installing Debian's nodejs and npm"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null
	fi
	node_ok || { echo "sdk: needs Node.js >= 18 and npm (apt-get install nodejs npm)" >&2; exit 1; }
fi

# --ignore-scripts: the build below is the one build; and npm does not
# run a linked package's scripts without approval anyway.
npm_ci() { (cd "$1" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error); }

npm_ci sdk/js
(cd sdk/js && npm run --silent build)
[ "${1:-}" = test ] || exit 0

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go build -o "$tmp/fluxhook" ./cmd/fluxhook
export FLUXHOOK_BINARY="$tmp/fluxhook"

echo "--- sdk/js: unit and all-in-one tests"
# One file at a time: each starts its own server, and node < 20.10 has no --test-concurrency.
for f in sdk/js/test/*.test.mjs; do
	(cd sdk/js && node --test "${f#sdk/js/}")
done

echo "--- sdk/seeds: every code block of shared/seeds, against a fresh all-in-one"
npm_ci sdk/seeds
(cd sdk/seeds && node run.mjs)
