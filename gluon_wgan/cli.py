"""The training command line, generated from TrainConfig so that flags, defaults and help cannot drift.

Precedence: defaults < method defaults (METHOD_DEFAULTS) < --preset < explicit flags. Bad input is one
line on stderr and exit code 2 (`parser.error`); this is the only module that calls it.
"""
import argparse
import json
import os
from dataclasses import fields, replace

from .config import METHOD_DEFAULTS, PRESETS, TrainConfig, flag, from_dict, resolve, resume_differences, to_dict
from .data.choices import EMBEDDED
from .utils.files import check_writable_dir
from .utils.oneline import OneLineParser
from .utils.threads import use_threads


def build_parser():
    """argparse parser with one --kebab-case flag per TrainConfig field, each defaulting to None."""
    parser = OneLineParser(
        prog="train_wgan.py", usage="%(prog)s [options]   (all options below; bad input exits with code 2)",
        description="Train a Wasserstein GAN (weight clipping or gradient penalty) with MXNet/Gluon. "
                    "Defaults are the WGAN paper's LSUN run; --method wgan-gp switches to the WGAN-GP "
                    "paper's defaults (" + _method_note() + ").",
        epilog="Exit codes: 0 trained to --gen-iters; 1 a loss became NaN or infinite; 2 bad input, or a run "
               "folder that cannot be used as asked (nothing in it changed); 130 / 143 stopped by Ctrl-C / "
               "SIGTERM after a checkpoint (continue with --resume).",
        formatter_class=lambda prog: argparse.HelpFormatter(prog, max_help_position=32, width=100))
    parser.add_argument("--preset", choices=sorted(PRESETS), metavar="NAME",
                        help="a paper run: one row of PRESETS in gluon_wgan/config.py, e.g. wgan-lsun64, "
                             "wgan-gp-lsun64, quickstart (all in docs/reproducing.md)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --outdir from its latest checkpoint")
    parser.add_argument("--trust-pickled-states", action="store_true",
                        help="with --resume: read the pickled optimizer states (*.states) of a checkpoint "
                             "written by earlier versions of gluon_wgan. Unpickling runs any code the file names: "
                             "only for run folders you made yourself")
    parser.add_argument("--dry-run", action="store_true", help="print the resolved options as JSON and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    for f in fields(TrainConfig):
        if f.name == "preset":   # its own flag above, with the presets as choices
            continue
        meta = dict(f.metadata)
        help_text = meta.pop("help")
        if "(default:" not in help_text:   # else the help says what the default does, once
            help_text += f" (default: {f.default})"
        if f.type in (bool, "bool"):
            parser.add_argument(flag(f.name), action=argparse.BooleanOptionalAction, default=None,
                                help=help_text)
        else:
            kind = {"int": int, "float": float}.get(f.type if isinstance(f.type, str) else f.type.__name__, str)
            parser.add_argument(flag(f.name), type=kind, default=None, help=help_text,
                                metavar=f.name.upper() if "choices" not in meta else None, **meta)
    return parser


def parse_config(argv=None):
    """Parse `argv` into (TrainConfig, resume). Invalid input: one line on stderr, exit code 2."""
    parser = build_parser()
    args = vars(parser.parse_args(argv))
    preset, resume, trust, dry_run, quiet = (args.pop(k) for k in
                                             ("preset", "resume", "trust_pickled_states", "dry_run", "quiet"))
    if trust and not resume:
        parser.error("--trust-pickled-states applies to --resume only")
    explicit = {k: v for k, v in args.items() if v is not None}
    try:
        cfg = _resume_config(explicit, preset) if resume else resolve(explicit, preset)
    except ValueError as err:
        parser.error(str(err))
    for problem in cfg.problems(files=not dry_run):
        parser.error(problem)
    if dry_run:   # the options alone: no data, device or folder is looked at, nothing is created
        print(json.dumps(to_dict(cfg), indent=2, sort_keys=True))
        parser.exit(0)
    try:
        use_threads(cfg.threads, small=small_network(cfg))   # before _check_environment loads MXNet, which reads it once
    except ValueError as err:
        parser.error(str(err))
    _check_environment(parser, cfg)
    return cfg, dict(resume=resume, trust_pickled_states=trust, progress=not quiet)


def small_network(cfg):
    """Whether `cfg`'s networks are small enough to compute as fast on one thread as on several: images
    of at most 32x32 (benchmarks/README.md, "Busy machines": the 32x32 runs; the 64x64 DCGAN gains
    from a second core)."""
    return cfg.image_size <= 32


def _resume_config(explicit, preset):
    outdir = explicit.get("outdir", TrainConfig.outdir)
    path = os.path.join(outdir, "config.json")
    if not os.path.isfile(path):
        copy = os.path.join(outdir, "checkpoints", "latest", "config.json")
        mend = f"; its checkpoint has a copy: cp {copy} {path}" if os.path.isfile(copy) else ""
        raise ValueError(f"--resume: no run to resume in {outdir!r} (no config.json){mend}")
    if preset is not None:
        raise ValueError("--resume takes the options of the run it resumes; drop --preset")
    try:
        with open(path) as f:
            saved = from_dict(json.load(f))
    except (ValueError, UnicodeDecodeError) as err:   # json's errors are ValueErrors
        raise ValueError(f"{path} is damaged ({err}); put back the copy in checkpoints/latest/config.json")
    differences = resume_differences(to_dict(saved), explicit)
    if differences:
        raise ValueError("--resume cannot change " + "; ".join(differences))
    return replace(saved, **explicit)


def _check_environment(parser, cfg):
    """Errors that depend on this machine: the device, the data root, the output folder."""
    if cfg.dataset == "folder" and _inside(cfg.outdir, cfg.dataroot):
        parser.error(f"--outdir {cfg.outdir!r} is inside --dataroot {cfg.dataroot!r}: the run would train on its own "
                     "samples, and a resumed run on other images; choose an --outdir outside the image folder")
    try:
        from .utils.context import parse_ctx   # here, not at the top: --help and flag errors skip MXNet
        devices = len(parse_ctx(cfg.ctx))
        for name in ("batch_size", "gen_batch_size"):
            if (getattr(cfg, name) or 0) % devices:
                raise ValueError(f"{flag(name)} {getattr(cfg, name)} does not split evenly over the {devices} "
                                 f"devices of --ctx {cfg.ctx}")
        check_writable_dir(cfg.outdir, keep=False)   # train() makes it: a refused start leaves none
    except ValueError as err:
        parser.error(str(err))
    if cfg.dataroot and not os.path.exists(cfg.dataroot) and cfg.dataset != "cifar10":   # cifar10 downloads into it
        parser.error(f"--dataroot {cfg.dataroot!r} does not exist")
    if cfg.dataset not in EMBEDDED:   # the embedded ones cannot fail
        from .data import get_dataset
        try:
            get_dataset(cfg.dataset, root=cfg.dataroot, image_size=cfg.image_size,
                        resize_backend=cfg.resize_backend, interpolation=cfg.interpolation,
                        lsun_category=cfg.lsun_category)
        except ValueError as err:
            parser.error(str(err))


def _inside(path, folder):
    """Whether `path` is `folder` or lies under it, links resolved (`path` may not exist yet)."""
    path, folder = os.path.realpath(path), os.path.realpath(folder)
    return os.path.commonpath([path, folder]) == folder


def _method_note():
    gp = METHOD_DEFAULTS["wgan-gp"]
    return ", ".join(f"{flag(k)} {v}" for k, v in gp.items())


