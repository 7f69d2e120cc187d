#!/usr/bin/env bash
# tools/demo.sh: the main job. Installs what is missing (Debian packages, including the
# Fashion-MNIST dataset), builds build/, and trains the Fashion-MNIST model:
#
#   bash tools/demo.sh                    the MLP, 10 epochs (a few minutes on 2 cores)
#   bash tools/demo.sh --model cnn        the CNN; any examples/fashion_mnist.lua option works
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash tools/test.sh --setup
exec luajit examples/fashion_mnist.lua "$@"
