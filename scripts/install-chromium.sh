#!/usr/bin/env bash
# install-chromium.sh: makes sure a headless Chromium is there for the
# dashboard's browser test (e2e/dashboard_test.go), which drives it with
# chromedp. The browser comes from Debian's packages, never downloaded by
# the tests themselves.
#
# When it is missing and we are root on Debian, Debian's `chromium` is
# installed (without recommended packages). Otherwise it says what to do
# and exits 0: the browser test then skips, or fails under CI=true.
set -euo pipefail

log() { printf '%s\n' "install-chromium: $*" >&2; }

have() {
	[[ -n "${FLUXHOOK_CHROMIUM:-}" && -x "${FLUXHOOK_CHROMIUM}" ]] && return 0
	local b
	for b in chromium chromium-browser google-chrome-stable google-chrome; do
		command -v "$b" >/dev/null 2>&1 && return 0
	done
	return 1
}

if have; then
	exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
	log "no Chromium; install Debian's chromium package (apt-get install chromium), or set FLUXHOOK_CHROMIUM"
	exit 0
fi

log "installing Debian's chromium"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends chromium >/dev/null
have || { log "chromium was installed but is not on PATH"; exit 1; }
