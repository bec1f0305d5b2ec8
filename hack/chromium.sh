#!/usr/bin/env bash
# Chromium for the console's browser tests: Debian's own package, installed here (as root,
# with apt) when it is missing. Prints `export AOS_TEST_CHROMIUM=PATH`.
set -euo pipefail
bin=$(command -v chromium || true)
if [ -z "$bin" ]; then
	if [ "$(id -u)" != 0 ]; then
		echo "chromium is not installed and this is not root: run 'apt-get install chromium' as root" >&2
		exit 1
	fi
	echo "[chromium] installing Debian's chromium package (once)" >&2
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends chromium >/dev/null
	bin=$(command -v chromium)
fi
echo "export AOS_TEST_CHROMIUM=$bin"
