#!/usr/bin/env bash
# Installs the Debian packages cleave needs to build, test and run its demo, when they are missing.
# Usage: scripts/setup-deps.sh   (as root, or with sudo available)
set -euo pipefail

pkgs=(
  build-essential cmake pkg-config
  protobuf-c-compiler libprotobuf-c-dev libonnx-dev   # ONNX loader: onnx.proto -> C at build time
  libxnnpack-dev libpthreadpool-dev                   # the cpu backend (XNNPACK and its thread pool)
  libuv1-dev libssl-dev libnghttp2-dev                # the remote path: event loop, TLS, HTTP/2
  libjansson-dev                                      # JSON in the tools and the gateway
  libvulkan-dev glslc mesa-vulkan-drivers             # the gpu backend: loader, GLSL -> SPIR-V, lavapipe
  curl nghttp2-client nghttp2-server openssl          # real HTTP/2 peers and certificates in the tests
  libcmocka-dev libonnx-testdata                      # unit tests, ONNX node conformance tests
  ca-certificates                                     # npm over TLS
)

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Node.js and npm fetch the models (npm pack) and run ONNX Runtime for reference outputs. Any node >= 18 will do.
command -v npm >/dev/null 2>&1 || missing+=(nodejs npm)

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup-deps: installing ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
  sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
