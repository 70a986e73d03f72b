#!/usr/bin/env bash
# Installs genrenet's build and test dependencies from Debian 12's packages (run as root).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config
  libtorch-dev libopenblas0-pthread      # LibTorch; OpenBLAS, or fp32 matrix products run 10x slower
  libsndfile1-dev libsoxr-dev            # decoding (WAV, AU, FLAC, OGG, MP3) and resampling
  libmpg123-dev                          # MP3 through libmpg123 itself (quiet; its problems named by file)
  libflac-dev                            # FLAC through libFLAC itself (a fifth faster than through libsndfile)
  libcairo2-dev fonts-dejavu-core        # PNG figures
  libcurl4-openssl-dev libssl-dev          # downloading ImageNet weights, SHA-256
  libtomlplusplus-dev                    # TOML training configs
  libgloo-dev                            # headers of the collectives behind LibTorch's c10d (data-parallel training)
  libcli11-dev nlohmann-json3-dev libgtest-dev
  libboost-dev                           # Boost.Beast and Asio (header-only): the HTTP service's transport
  libcpp-httplib-dev                     # an HTTP client for the tests and benchmarks
  libfaiss-dev                           # similarity search over embeddings (genrenet index, similar)
  libtag1-dev libsqlite3-dev             # genre tags written into files (TagLib) and their journal (genrenet tag)
  python3-torch python3-torchaudio python3-torchvision python3-numpy  # test oracles and the reference benchmark
  python3-venv                           # scripts/build.sh --torch pip: PyPI's torch wheel in a virtual environment
  beets                                  # the beets plugin's end-to-end test (Debian's beets 1.6; the newest comes from PyPI)
  chromium chromium-driver curl          # the web page's end-to-end test; health checks in bench/run_serve.sh
  clang-14 libclang-rt-14-dev            # libFuzzer, AddressSanitizer and UBSan for the fuzz targets (scripts/fuzz.sh)
  libomp-14-dev                          # OpenMP for clang: FAISS's CMake package asks for it in the fuzz build too
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
