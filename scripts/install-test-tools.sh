#!/usr/bin/env bash
# Installs the system tools that Medic's tests use, from Debian/Ubuntu packages:
#   faketime  end-to-end tests run the real binary at chosen instants (libfaketime)
#   curl      the PagerDuty guide's manual test
#   postgresql  the store tests start a throwaway PostgreSQL from its binaries (initdb, pg_ctl);
#             nothing is started or enabled by installing it
#   systemd   `systemd-analyze verify` checks the units `medic init --systemd` writes
#   cron      medic discover's tests read and install a throwaway user's crontab with the real `crontab`
#   zsh fish  the completion tests load `medic completion zsh|fish` in the real shells (bash is always there)
#   prometheus  `promtool check metrics` / `check rules` validate what medic metrics writes and the
#             alerting rules of docs/metrics.md (the tests never start the Prometheus server; on a
#             machine running systemd, Debian's package enables and starts it: `systemctl disable --now prometheus`)
#   prometheus-alertmanager  `amtool check-config` validates docs/metrics.md's receiver for the Watchdog
#             (the tests never start Alertmanager; with systemd: `systemctl disable --now prometheus-alertmanager`)
#   groff-base man-db  the man page's tests: `groff -ww` reads dist/medic.1 without a warning, and
#             `man -w` finds the page an `npm install -g` of the packed tarball put in its prefix
#   chromium fonts-dejavu-core  the status page's tests open /status in headless Chromium (driven by
#             playwright-core, a dev dependency that downloads no browser) and keep a screenshot
# The one place that lists them: add a tool here, and .ci/run and every developer get it.
# Idempotent and quiet (installs only what is missing). Needs root: run as root or through sudo.
#   sudo scripts/install-test-tools.sh
set -euo pipefail

packages=(faketime curl postgresql systemd cron zsh fish prometheus prometheus-alertmanager chromium fonts-dejavu-core groff-base man-db)

missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q 'install ok installed' || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-test-tools: no apt-get here; install these packages with your package manager: ${missing[*]}" >&2
  exit 1
fi
as_root=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "install-test-tools: run as root (or install sudo): needs ${missing[*]}" >&2; exit 1; }
  as_root=(sudo)
fi
"${as_root[@]}" apt-get update -qq
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-test-tools: installed ${missing[*]}"
