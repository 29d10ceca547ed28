#!/usr/bin/env bash
# One-time set-up for the benchmarks: Debian's cfssl (the comparison signer used by bench/extend.py).
# Idempotent: does nothing when cfssl is already on PATH. Needs root (or sudo) for apt-get.
set -euo pipefail

if command -v cfssl >/dev/null 2>&1; then
    echo "cfssl already installed: $(command -v cfssl)"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends golang-cfssl
echo "cfssl installed: $(command -v cfssl)"
