#!/usr/bin/env bash
# Debian packages beyond Python: Pango (WeasyPrint's text layout), the Noto fonts whose glyphs the welcome
# letters use (Arabic, CJK), and Chromium for the browser tests. Installs only what is missing; sudo when not root.
set -euo pipefail
missing=()
# Read the lists into variables first: `cmd | grep -q` fails under pipefail when grep stops reading early.
fonts=$(fc-list : family 2>/dev/null || true)
libs=$(ldconfig -p 2>/dev/null || true)
grep -q "Noto Sans Arabic\|Noto Naskh Arabic" <<<"$fonts" || missing+=(fonts-noto-core)
grep -q "Noto Sans CJK" <<<"$fonts" || missing+=(fonts-noto-cjk)
grep -q "libpango-1.0" <<<"$libs" || missing+=(libpango-1.0-0 libpangoft2-1.0-0)
grep -q "libharfbuzz-subset" <<<"$libs" || missing+=(libharfbuzz-subset0)  # WeasyPrint's font subsetting
command -v fc-list >/dev/null || missing+=(fontconfig)
[ -x /usr/bin/chromium ] || missing+=(chromium)  # the browser tests drive Debian's Chromium (no Playwright download)
[ ${#missing[@]} -eq 0 ] && exit 0
echo "[system] installing from Debian: ${missing[*]}" >&2
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
