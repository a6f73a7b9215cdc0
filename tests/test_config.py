import json
import os
import subprocess
import sys

import pytest

from gluon_wgan.cli import build_parser, parse_config
from gluon_wgan.config import PRESETS, TrainConfig, resolve

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_defaults_are_the_wgan_paper_lsun_run():
    cfg = TrainConfig()
    assert (cfg.method, cfg.optimizer, cfg.lr_d, cfg.lr_g, cfg.clamp) == ("wgan", "rmsprop", 5e-5, 5e-5, 0.01)
    assert (cfg.batch_size, cfg.nz, cfg.ngf, cfg.ndf, cfg.image_size) == (64, 100, 64, 64, 64)
    assert (cfg.d_iters, cfg.warmup_iters, cfg.burst_d_iters, cfg.burst_every) == (5, 25, 100, 500)
    assert cfg.critic_norm == "batch" and cfg.clip_when == "before"


def test_wgan_gp_method_defaults_under_explicit_flags():
    cfg = resolve({"method": "wgan-gp", "lr_d": 3e-4})
    assert (cfg.optimizer, cfg.lr_g, cfg.beta1, cfg.beta2, cfg.gp_weight) == ("adam", 1e-4, 0.0, 0.9, 10.0)
    assert cfg.lr_d == 3e-4  # explicit flag wins
    assert cfg.warmup_iters == 0 and cfg.burst_every == 0 and cfg.critic_norm == "layer"


def test_precedence_defaults_preset_flags():
    assert resolve({}, "quickstart").image_size == PRESETS["quickstart"]["image_size"]
    assert resolve({"image_size": 64}, "quickstart").image_size == 64


def test_unknown_preset():
    with pytest.raises(ValueError, match="--preset"):
        resolve({}, "nope")


def test_cli_flags_cover_every_field():
    actions = {a.dest for a in build_parser()._actions}
    assert set(TrainConfig.__dataclass_fields__) <= actions


def test_cli_choices_are_the_components_lists():
    """Each list of choices is defined once, by its component; config and the command line read it there."""
    from gluon_wgan import objectives
    from gluon_wgan.data import choices as data
    from gluon_wgan.models import choices as models
    from gluon_wgan.optim import choices as optim
    from gluon_wgan.training import choices as training
    from gluon_wgan.training.methods import METHODS
    offered = {a.dest: tuple(a.choices) for a in build_parser()._actions if a.choices and a.dest != "preset"}
    assert offered == {
        "dataset": data.DATASETS, "resize_backend": data.BACKENDS, "interpolation": data.INTERPOLATIONS,
        "generator": models.ARCHITECTURES, "critic": models.ARCHITECTURES, "gen_norm": models.GENERATOR_NORMS,
        "critic_norm": models.CRITIC_NORMS, "gen_filters": models.FILTERS, "activation": models.ACTIVATIONS,
        "method": tuple(METHODS), "optimizer": optim.OPTIMIZERS, "rmsprop_eps_mode": optim.RMSPROP_EPS_MODES,
        "inception": training.INCEPTIONS, "gp_mode": objectives.GP_MODES, "init": models.INITS,
        "lr_decay": training.LR_DECAYS, "dtype": models.COMPUTE_DTYPES,
        # Options of the loop alone: their lists live in config.
        "clip_when": ("before", "after"), "epoch_boundaries": ("continuous", "official"),
        "bn_stats": ("mxnet", "reference"), "kvstore": ("device", "dist_sync")}


def test_each_default_is_the_components_own():
    """A default is written once, where its component defines it: the config's equals what the library
    functions take when the argument is left out (clip value, penalty weight, optimizer, schedule)."""
    import inspect

    from gluon_wgan.optim import TorchRMSProp, make_optimizer
    from gluon_wgan.penalty import gradient_penalty
    from gluon_wgan.training.schedule import critic_iters
    from gluon_wgan.training.steps import critic_step

    def default(function, name):
        return inspect.signature(function).parameters[name].default

    cfg = TrainConfig()
    assert (cfg.clamp, cfg.gp_weight) == (default(critic_step, "clamp"), default(critic_step, "gp_weight"))
    assert cfg.gp_weight == default(gradient_penalty, "weight") and cfg.gp_mode == default(critic_step, "gp_mode")
    assert [cfg.rmsprop_eps, cfg.rmsprop_alpha, cfg.beta1, cfg.beta2] == \
        [default(make_optimizer, name) for name in ("rmsprop_eps", "rmsprop_alpha", "beta1", "beta2")]
    assert (cfg.rmsprop_alpha, cfg.rmsprop_eps) == (default(TorchRMSProp, "alpha"), default(TorchRMSProp, "epsilon"))
    assert [cfg.d_iters, cfg.warmup_iters, cfg.burst_d_iters, cfg.burst_every] == \
        [default(critic_iters, name) for name in ("d_iters", "warmup", "burst", "burst_every")]


def test_the_command_line_loads_neither_numpy_nor_mxnet():
    """`train_wgan.py --help` and flag errors answer at once: config reads only the choices modules."""
    code = ("import sys, gluon_wgan.cli, gluon_wgan.tools.toy; "
            "print(sorted(m for m in ('numpy', 'mxnet', 'PIL') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_dry_run_of_any_preset_needs_no_data_and_creates_nothing(preset, capsys, tmp_path):
    outdir = tmp_path / "runs" / "new"
    with pytest.raises(SystemExit) as stop:
        parse_config(["--dry-run", "--preset", preset, "--outdir", str(outdir)])
    assert stop.value.code == 0
    assert json.loads(capsys.readouterr().out)["preset"] == preset
    assert not (tmp_path / "runs").exists()


def test_a_refused_start_leaves_no_folder(capsys, tmp_path):
    empty = tmp_path / "no-images"
    empty.mkdir()
    outdir = tmp_path / "runs" / "new"
    with pytest.raises(SystemExit) as stop:
        parse_config(["--dataset", "folder", "--dataroot", str(empty), "--outdir", str(outdir)])
    assert stop.value.code == 2 and len(capsys.readouterr().err.splitlines()) == 1
    assert not (tmp_path / "runs").exists()


def test_dry_run_prints_resolved_json(capsys, tmp_path):
    with pytest.raises(SystemExit) as stop:
        parse_config(["--dry-run", "--method", "wgan-gp", "--outdir", str(tmp_path)])
    assert stop.value.code == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["optimizer"] == "adam" and printed["outdir"] == str(tmp_path)


@pytest.mark.parametrize("argv,message", [
    (["--image-size", "48"], "--image-size must be a power of two"),
    (["--batch-size", "0"], "--batch-size must be at least 1"),
    (["--dataset", "imagenet"], "--dataset"),
    (["--dataset", "folder"], "--dataset folder needs --dataroot"),
    (["--dataset", "folder", "--dataroot", "/no/such/folder"], "does not exist"),
    (["--ctx", "gpu(0)"], "GPU"),
    (["--ctx", "quantum"], "--ctx"),
    (["--method", "wgan-gp", "--critic-norm", "batch"], "--critic-norm batch"),
    (["--method", "wgan-gp", "--epoch-boundaries", "official"], "--epoch-boundaries official cannot"),
    (["--ctx", "cpu(0),cpu(1)", "--epoch-boundaries", "official"], "needs one device"),
    (["--lr-d", "-1"], "--lr-d must be > 0"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path):
    argv = argv + ["--outdir", str(tmp_path / "run")]
    result = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", "train_wgan.py"), *argv],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_unwritable_outdir(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(SystemExit) as stop:
        parse_config(["--outdir", str(blocker / "run")])
    assert stop.value.code == 2
    assert "not writable" in capsys.readouterr().err


def test_each_option_shows_one_default():
    for action in build_parser()._actions:
        assert (action.help or "").count("(default:") <= 1, action.option_strings


def test_cli_doc_is_the_help_verbatim():
    with open(os.path.join(ROOT, "docs", "cli.md")) as f:
        doc = f.read()
    # argparse before Python 3.10 heads the list "optional arguments:"; the page has 3.10's "options:".
    assert build_parser().format_help().replace("\noptional arguments:\n", "\noptions:\n") in doc


def test_the_preset_is_recorded_and_names_the_run(capsys, tmp_path):
    from gluon_wgan.tools.runs import run_label
    with pytest.raises(SystemExit):
        parse_config(["--dry-run", "--preset", "quickstart", "--outdir", str(tmp_path)])
    config = json.loads(capsys.readouterr().out)
    assert config["preset"] == "quickstart" and run_label(str(tmp_path), config) == "quickstart"
    with pytest.raises(SystemExit):
        parse_config(["--dry-run", "--outdir", str(tmp_path)])
    assert json.loads(capsys.readouterr().out)["preset"] is None


def test_eval_with_fid_inception_needs_its_weights(tmp_path, capsys):
    with pytest.raises(SystemExit) as stop:
        parse_config(["--eval-every", "10", "--inception", "fid-inception", "--outdir", str(tmp_path)])
    assert stop.value.code == 2
    assert "--inception fid-inception needs --inception-weights pt_inception-2015-12-05" in capsys.readouterr().err
