# Sourced by build.sh and test.sh: which LibTorch to build against, and where its build goes.
#
#   GENRENET_TORCH=debian   Debian 12's libtorch-dev 1.13.1 (the default; scripts/install-deps.sh installs it)
#                           -> ./build
#   GENRENET_TORCH=pip      PyPI's torch wheel (it carries LibTorch's headers, libraries and CMake package),
#                           installed into the virtual environment $GENRENET_TORCH_VENV (default ./.venv-torch)
#                           at version $GENRENET_TORCH_PIP (default 2.15.0) when it is not there yet
#                           -> ./build-pip
#   GENRENET_TORCH=DIR      a LibTorch folder unzipped from pytorch.org (DIR/share/cmake/Torch) -> ./build-libtorch
#
# GENRENET_BUILD_DIR overrides the build folder. The trade-off (docs/BUILDING.md): Debian's package is some
# 300 MB and from 2022; PyPI's Linux wheel is the CUDA build, about 5 GB installed with its NVIDIA libraries,
# and today's PyTorch.

genrenet_choose_libtorch() {
  local choice="${GENRENET_TORCH:-debian}"
  TORCH_CMAKE_ARGS=()
  case "$choice" in
    debian)
      BUILD_DIR="${GENRENET_BUILD_DIR:-build}"
      ;;
    pip)
      BUILD_DIR="${GENRENET_BUILD_DIR:-build-pip}"
      local venv="${GENRENET_TORCH_VENV:-.venv-torch}" version="${GENRENET_TORCH_PIP:-2.15.0}"
      if ! "$venv/bin/python" -c "import torch" 2>/dev/null; then
        echo "installing torch==$version from PyPI into $venv (the CUDA build: about 5 GB with its NVIDIA libraries)"
        python3 -m venv "$venv"
        "$venv/bin/pip" install --quiet --upgrade pip
        "$venv/bin/pip" install --quiet "torch==$version"
      fi
      local prefix
      prefix="$("$venv/bin/python" -c 'import torch.utils; print(torch.utils.cmake_prefix_path)')"
      TORCH_CMAKE_ARGS=(-DCMAKE_PREFIX_PATH="$prefix")
      ;;
    *)
      if [ ! -f "$choice/share/cmake/Torch/TorchConfig.cmake" ]; then
        echo "GENRENET_TORCH=$choice: not 'debian', 'pip' or a LibTorch folder (no $choice/share/cmake/Torch/TorchConfig.cmake)" >&2
        return 1
      fi
      BUILD_DIR="${GENRENET_BUILD_DIR:-build-libtorch}"
      TORCH_CMAKE_ARGS=(-DCMAKE_PREFIX_PATH="$(cd "$choice" && pwd)")
      ;;
  esac
  # A CUDA build of LibTorch (the wheel, or a CUDA libtorch zip) probes the GPU architecture at configure
  # time; on a machine without a GPU that probe fails under CMake 3.25 and nvcc 13, so name one (Hopper),
  # as a cache variable so that CMake's own re-runs keep it.
  if [ "$choice" != debian ]; then TORCH_CMAKE_ARGS+=(-DTORCH_CUDA_ARCH_LIST="${TORCH_CUDA_ARCH_LIST:-9.0}"); fi
}
