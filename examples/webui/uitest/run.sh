#!/usr/bin/env bash
# Browser test of the web UI (examples/webui) in headless Chromium.
# Installs Debian's chromium when it is missing (apt-get; root or sudo),
# then runs the chromedp test of this module. Screenshots land in
# examples/webui/artefacts/; UPDATE_SCREENSHOTS=1 also writes
# docs/images/webui-*.png. CHROMIUM=/path overrides the browser.
set -euo pipefail
cd "$(dirname "$0")"
start=$(date +%s)

if [ -z "${CHROMIUM:-}" ] && ! command -v chromium >/dev/null 2>&1; then
  echo "chromium is missing: installing Debian's chromium"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
"${CHROMIUM:-chromium}" --version

go vet ./...
go test -count=1 -timeout 5m -v -run '^TestWebUIInChromium$' ./... 2>&1 | grep -v '^    ui_test.go:[0-9]*: server: ' || exit 1
echo "web UI browser test: $(( $(date +%s) - start )) s in all"
