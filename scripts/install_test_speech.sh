#!/usr/bin/env bash
# Test speech for rendered meetings (benchmarks only, never the product): espeak-ng and sox for
# English, RHVoice for Russian. RHVoice is in Debian's non-free section, which is not in the
# default sources: added here, pointing at the mirror the machine already uses.
set -euo pipefail
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
if ! command -v RHVoice-test >/dev/null; then
  mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
  mirror="${mirror:-http://deb.debian.org/debian}"
  list=/etc/apt/sources.list.d/rhvoice-nonfree.sources
  [ -f "$list" ] || printf 'Types: deb\nURIs: %s\nSuites: bookworm bookworm-backports\nComponents: non-free\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$mirror" | $SUDO tee "$list" >/dev/null
  $SUDO apt-get update -qq
  $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq -t bookworm-backports rhvoice rhvoice-russian librhvoice5 >/dev/null
fi
for tool in espeak-ng sox; do
  command -v "$tool" >/dev/null || $SUDO apt-get -o DPkg::Lock::Timeout=900 install -y -qq "$tool" >/dev/null
done
echo "test speech ready: $(command -v RHVoice-test) $(command -v espeak-ng) $(command -v sox)"
