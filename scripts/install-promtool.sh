#!/usr/bin/env bash
# install-promtool.sh: makes sure promtool (Prometheus's rule checker,
# used by the tests in ./deploy) is on PATH.
#
# When it is missing and we are root on Debian, only /usr/bin/promtool is
# taken from Debian's `prometheus` package (apt-get download + dpkg -x),
# so no Prometheus service is installed or started. Otherwise it says what
# to do and exits 0: the deploy tests then skip, or fail under CI=true.
set -euo pipefail

log() { printf '%s\n' "install-promtool: $*" >&2; }

if command -v promtool >/dev/null 2>&1; then
	exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1 || ! command -v dpkg >/dev/null 2>&1; then
	log "promtool is not installed; install Debian's prometheus package (or put promtool on PATH)"
	exit 0
fi

tmp=$(mktemp -d "${TMPDIR:-/tmp}/promtool.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

log "extracting promtool from Debian's prometheus package"
export DEBIAN_FRONTEND=noninteractive
download() { (cd "$tmp" && apt-get download -qq prometheus >/dev/null 2>&1); }
if ! download; then
	apt-get update -qq >/dev/null
	download || {
		log "apt-get download prometheus failed"
		exit 1
	}
fi
dpkg -x "$tmp"/prometheus_*.deb "$tmp/root"
install -m 0755 "$tmp/root/usr/bin/promtool" /usr/local/bin/promtool
log "installed $(/usr/local/bin/promtool --version 2>&1 | head -n 1)"
