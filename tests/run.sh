#!/usr/bin/env bash
# Install everything the test suite needs, then run it. README command 2; CI runs this too.
set -euo pipefail
cd "$(dirname "$0")/.."
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  # Debian packages the tests drive for real: Prometheus (alert rules + scrape test), Chromium (pages),
  # mosquitto (the MQTT broker of MQTT ingest).
  need=()
  command -v prometheus >/dev/null || need+=(prometheus)
  command -v chromium >/dev/null || need+=(chromium)
  [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
  if [ ${#need[@]} -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
fi
python -m pip install -q -e '.[test]'
# The three floors of the layout (pyproject.toml, [tool.importlinter]): a broken contract fails here.
lint-imports --no-cache
exec python -m pytest "$@"
