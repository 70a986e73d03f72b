#!/usr/bin/env bash
# The GPU check (issue 26): on a machine with an NVIDIA GPU, build genrenet against the machine's own
# PyTorch (its LibTorch, a CUDA build), run the tests that touch CUDA-capable code, then time ResNet-18 on the
# GPU beside PyTorch on the same GPU, within 10 minutes.
#
#   bench/gpu.sh --prepare   here, with Debian's registry: download the .deb files of genrenet's build
#                            dependencies into .gpu-deps/ (~50 MiB), for a machine that reaches no registry
#   bench/gpu.sh             there (the device tool: run with carry [".gpu-deps"]): unpack them, build, test,
#                            time; prints "GPU CHECK RAN" with the GPU's name, or "GPU CHECK NOT RUN: why"
#
# Status: prepared, never run (no session of issue 26 was lent a GPU); docs/PERFORMANCE.md says the same.
set -uo pipefail
cd "$(dirname "$0")/.."
deps=.gpu-deps
# genrenet's build dependencies (scripts/install-deps.sh, less LibTorch, the oracles and the browser); with
# --prepare, these and what they need of Debian 12, less the toolchain and the base system a GPU machine has.
dev_packages=(libsndfile1-dev libmpg123-dev libsoxr-dev libcairo2-dev libcurl4-openssl-dev libssl-dev
  libtomlplusplus-dev libcli11-dev nlohmann-json3-dev libgtest-dev libboost-dev libcpp-httplib-dev libfaiss-dev
  libtag1-dev libsqlite3-dev libgloo-dev libopenblas0-pthread)
base='^(gcc|g\+\+|cpp|libc6|libc-|libgcc|libstdc|binutils|libbinutils|perl|libperl|python|libpython|linux-libc|fonts-|lib(asan|ubsan|tsan|lsan|itm|quadmath|atomic|gomp|isl|mpc|mpfr|gmp|ctf|gprofng|jansson|cc1|crypt|nsl|tirpc)|debconf|dpkg|tar|passwd|zlib1g$|libzstd1$|liblzma5$|libbz2|libselinux|libpcre|libsystemd|libcap|libgpg|libgcrypt|libudev|libdb5|libncurses|libtinfo|readline|libreadline|libffi|libexpat1$|libssl3$|libuuid|libblkid|libmount|libsmartcols|libacl|libattr|libaudit|libsemanage|libsepol|libpam|libhogweed|libnettle|libgnutls|libp11|libtasn1|libidn2|libunistring|libkrb|libk5|libgssapi|libkeyutils|libcom-err|libsasl|libldap|libbrotli|libnghttp|libpsl|librtmp|libssh|liblapack-dev|libglib2.0-(dev|data|bin))'

if [ "${1:-}" = "--prepare" ]; then
  rm -rf "$deps" && mkdir -p "$deps"
  mapfile -t packages < <(apt-cache depends --installed --recurse --no-recommends --no-suggests --no-conflicts \
    --no-breaks --no-replaces --no-enhances "${dev_packages[@]}" | grep -v '^[ <]' | sort -u | grep -vE "$base")
  (cd "$deps" && apt-get download "${packages[@]}" > /dev/null)
  size_mib=$(du -sm "$deps" | cut -f1)
  echo "${#packages[@]} packages, ${size_mib} MiB in $deps: run bench/gpu.sh on the GPU machine with carry [\"$deps\"]"
  # The device tool carries 64 MiB in all, the working tree included.
  [ "$size_mib" -le 56 ] || { echo "too large to carry (over 56 MiB)"; exit 1; }
  exit 0
fi

not_run() { echo "GPU CHECK NOT RUN: $*"; exit 0; }
command -v nvidia-smi >/dev/null || not_run "no nvidia-smi on this machine"
gpu=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
[ -n "$gpu" ] || not_run "nvidia-smi lists no GPU"
python=$(command -v python3)
prefix=$("$python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null) ||
  not_run "no PyTorch for $python (its LibTorch is what genrenet builds against here)"
"$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' ||
  not_run "PyTorch sees no GPU ($gpu)"
echo "# $(date -u +%F) GPU: $gpu; CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2); torch $("$python" -c 'import torch; print(torch.__version__)')"

# The carried dependencies, unpacked into a private root; pkg-config and CMake pointed at it.
root=$PWD/.gpu-root
if [ -d "$deps" ]; then
  rm -rf "$root" && mkdir -p "$root"
  for d in "$deps"/*.deb; do  # dpkg-deb where there is one; a .deb is an ar archive of tarballs elsewhere
    if command -v dpkg-deb >/dev/null; then dpkg-deb -x "$d" "$root"
    else ar p "$d" "$(ar t "$d" | grep '^data.tar')" | tar -xa -C "$root" 2>/dev/null || tar -xJf <(ar p "$d" data.tar.xz) -C "$root"; fi
  done
  export PKG_CONFIG_SYSROOT_DIR=$root
  export PKG_CONFIG_PATH=$root/usr/lib/x86_64-linux-gnu/pkgconfig:$root/usr/share/pkgconfig
  export LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu:${LD_LIBRARY_PATH:-}
  prefix="$prefix;$root/usr"
fi
arch=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader | head -1)
export TORCH_CUDA_ARCH_LIST=${arch:-9.0}
build=build-gpu
cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH="$prefix" \
  -DGENRENET_BUILD_EXAMPLES=OFF > "$build.configure.log" 2>&1 || { tail -30 "$build.configure.log"; not_run "configure failed (above)"; }
cmake --build "$build" --parallel "$(nproc)" --target genrenet_cli genrenet_tests bench_model > "$build.log" 2>&1 ||
  { grep -m20 -E "error|Error" "$build.log"; not_run "build failed (above)"; }

# Tests of the model, training, inference and compute layers (the CPU suite; CUDA paths are chosen by --device).
timeout 240 "$build/tests/genrenet_tests" --gtest_brief=1 \
  --gtest_filter='ResNet.*:InferenceNet.*:Training.*:Freeze.*:SyncBatchNorm.*:ComputeCache.*:ClassifierTest.*:Int8Calibration.*'
# genrenet on the GPU: a training run of the demo's shape and prediction, both on --device cuda.
work=$(mktemp -d)
"$build/genrenet" synth --out "$work/data" --per-class 20 --seconds 6 > /dev/null 2>&1 &&
  timeout 180 "$build/genrenet" train --data "$work/data" --out "$work/run" --device cuda --epochs 3 --batch 16 \
    --frames 191 --precision auto 2>&1 | tail -8
# Model speed, genrenet and PyTorch on the same GPU (training steps and inference, batch 16 of 3x128x1024).
timeout 120 "$build/bench/bench_model" --device cuda --steps 10
"$python" - <<'EOF'
import time, torch, torchvision, json
torch.manual_seed(0)
dev = torch.device("cuda")
for mode in ("fp32", "bf16"):
    m = torchvision.models.resnet18(num_classes=10).to(dev)
    x = torch.randn(16, 3, 128, 1024, device=dev); y = torch.randint(0, 10, (16,), device=dev)
    opt = torch.optim.Adam(m.parameters(), 1e-4)
    ac = torch.autocast("cuda", dtype=torch.bfloat16, enabled=(mode == "bf16"))
    def step():
        opt.zero_grad()
        with ac:
            loss = torch.nn.functional.cross_entropy(m(x).float(), y)
        loss.backward(); opt.step()
    for _ in range(3): step()
    torch.cuda.synchronize(); t = time.perf_counter()
    for _ in range(10): step()
    torch.cuda.synchronize(); train = 160 / (time.perf_counter() - t)
    m.eval()
    with torch.no_grad(), ac:
        for _ in range(3): m(x)
        torch.cuda.synchronize(); t = time.perf_counter()
        for _ in range(10): m(x)
        torch.cuda.synchronize(); infer = 160 / (time.perf_counter() - t)
    print(json.dumps(dict(impl="pytorch", torch=torch.__version__, mode=mode, train_clips_per_s=round(train, 1),
                          infer_clips_per_s=round(infer, 1))))
EOF
rm -rf "$work"
echo "GPU CHECK RAN on $gpu"
