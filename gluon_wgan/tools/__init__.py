"""The back ends of the command-line tools in scripts/, one module per tool:

- `resize_report`: scripts/compare_resize.py (Pillow vs OpenCV vs mx.image.imresize), measured by
  `resize_compare`;
- `runs`: scripts/plot_runs.py (figures across run folders);
- `doctor`: scripts/check_gpu.py (the GPU check and smoke run);
- `launch`: scripts/launch_dist.py (MXNet's dist_sync roles, local or over ssh);
- `toy`: scripts/reproduce_toy.py's command line and its presets (the runs are `training.toy`).

The training command line is `gluon_wgan.cli` (it is generated from `gluon_wgan.config`), and
scripts/evaluate.py calls `gluon_wgan.training.evaluate`, which the training loop also uses. The
library never imports this package.
"""
