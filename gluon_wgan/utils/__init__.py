"""Small helpers with no machine learning in them: atomic files and run-folder locks (`files`), signals,
thread counts, the CPU's instruction sets and AMX (`cpu`), device strings (`context`), the one-line
argument parser, lazy package attributes, the cache folder (`cache`).

Each imports the standard library only (`context` loads MXNet when asked to), so the command lines
answer `--help` at once; nothing here imports the rest of the package except `context`, which uses
`gluon_wgan.cuda` to load the CUDA libraries before MXNet.
"""
