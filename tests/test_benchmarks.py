"""benchmarks/run.py stays importable and its measuring pieces work, at toy sizes (no timing asserted)."""
import importlib.util
import io
import json
import os

import mxnet as mx
import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load(name):
    """benchmarks/<name>.py as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", os.path.join(ROOT, "benchmarks", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def bench():
    return _load("run")


def test_measure_reports_a_median_per_call(bench):
    calls = []
    result = bench.measure(lambda: calls.append(1), repeats=3, warmup=2, number=4)
    assert len(calls) == 2 + 3 * 4
    assert len(result["samples"]) == 3 and result["min"] <= result["median"] <= result["max"]


@pytest.mark.parametrize("model,method", [("dcgan", "wgan"), ("dcgan", "wgan-gp"), ("mlp", "wgan-gp")])
def test_iterations_run_at_toy_sizes(bench, model, method):
    sizes = dict(bench.QUICK, image_size=16, width=4, batch=4, mlp_batch=8, mlp_hidden=8)
    result = bench.bench_iterations(mx.cpu(), sizes, repeats=1, warmup=0, model=model, method=method)
    assert set(result) == {"critic_iter", "gen_iter"}


def test_clip_variants_agree(bench):
    """The benchmark's alternatives compute what the package computes (else the timing compares nothing)."""
    sizes = dict(bench.QUICK, image_size=16, width=4, batch=4)
    results = []
    for clip in (bench.clip_, bench.clip_gluoncv, bench.clip_multi_sgd):
        s = bench.Setup("dcgan", "wgan", mx.cpu(), sizes, hybridize=False)   # same seed, same weights
        for p in s.critic.collect_params().values():
            if p.grad_req != "null":
                p.set_data(p.data() * 100)
        clip(s.critic.collect_params(), 0.01)
        results.append([p.data().asnumpy() for p in s.critic.collect_params().values()])
    for a, b, c in zip(*results):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, c, rtol=0, atol=3e-5)   # rounds at the scale of |w| ~ 100 (docstring)


def test_markdown_lists_the_machine_and_ratios(bench):
    timing = dict(median=1.0, min=0.9, max=1.1, samples=[1.0])
    results = dict(machine=bench.machine(mx.cpu()), sizes=bench.QUICK, repeats=1, warmup=0,
                   results={"dcgan_wgan": dict(critic_iter=timing, gen_iter=timing),
                            "dcgan_wgan-gp": dict(critic_iter=dict(timing, median=1.5), gen_iter=timing)})
    text = bench.markdown(results)
    assert "MXNet" in text and "cores" in text
    assert "| dcgan gp / clipping critic iter | 1.5 |" in text


@pytest.fixture(scope="module")
def vs_torch():
    return _load("vs_torch")


def test_vs_torch_summary_takes_medians_of_per_round_ratios(vs_torch):
    """vs_torch.py's arithmetic on made-up samples (running it needs torch, not a dependency)."""
    vs = vs_torch
    samples = {f.key: {"mxnet": [1.0, 2.0, 6.0], "torch": [2.0, 2.0, 3.0]} for f in vs.GROUPS["dcgan"] + vs.GROUPS["toy"]}
    samples["dcgan wgan critic"] = {"mxnet": [0.5, 1.0, 1.0], "torch": [1.0, 1.0, 1.0]}
    s = vs.summary(samples)
    # per-round ratios 0.5, 1, 2: median 1, range 0.5-2
    assert s["dcgan wgan gen"] == dict(mxnet=2.0, torch=2.0, ratio=1.0, ratio_min=0.5, ratio_max=2.0)
    assert s["toy wgan-gp critic"] == s["dcgan wgan gen"]
    assert s["dcgan wgan-gp / wgan critic (mxnet)"] == 2.0      # rounds: 1 / 0.5, 2 / 1, 6 / 1
    assert s["dcgan wgan-gp / wgan critic (torch)"] == 2.0      # rounds: 2, 2, 3
    workers = dict(mxnet=dict(version="1.9.1", threads="2"), torch=dict(version="2", threads=2))
    result = dict(machine="m", rounds=3, number=1, summary=s, workers=dict(dcgan=workers, toy=workers))
    text = vs.markdown(result)
    assert "| wgan-gp critic iteration | 2.0000 | 2.0000 | 1.00 (0.50-2.00) |" in text
    assert "| DCGAN-64, batch 64 |" in text and "| toy MLP 3 x 512, batch 256 |" in text


def test_vs_torch_markdown_lists_only_the_groups_timed(vs_torch):
    samples = {f.key: {"mxnet": [1.0], "torch": [2.0]} for f in vs_torch.GROUPS["toy"]}
    workers = dict(toy=dict(mxnet=dict(version="1.9.1", threads="1"), torch=dict(version="2", threads=2)))
    text = vs_torch.markdown(dict(machine="m", rounds=1, number=1, summary=vs_torch.summary(samples),
                                  workers=workers))
    assert "| wgan-gp gen iteration | 1.0000 | 2.0000 | 0.50 (0.50-0.50) |" in text
    assert "DCGAN" not in text and "WGAN-GP / WGAN" not in text


@pytest.mark.parametrize("group", ["toy", "toy-bf16"])
def test_vs_torch_serves_the_toy_iterations_at_toy_sizes(vs_torch, group):
    """The MXNet toy worker, float32 or bfloat16, answers each figure's request with seconds per
    iteration (none asserted)."""
    requests = "".join(json.dumps(dict(method=f.method, step=f.step, number=2)) + "\n"
                       for f in vs_torch.GROUPS[group])
    out = io.StringIO()
    vs_torch.serve("mxnet", group, warmup=1, toy_sizes=dict(batch=8, hidden=8, n_hidden=3),
                   stdin=io.StringIO(requests), stdout=out)
    ready, *replies = [json.loads(line) for line in out.getvalue().splitlines()]
    assert ready["ready"] and ready["framework"] == "mxnet"
    assert len(replies) == len(vs_torch.GROUPS[group]) and all(r["seconds"] > 0 for r in replies)


def test_vs_torch_reports_each_frameworks_bfloat16_over_float32(vs_torch):
    samples = {f.key: {"mxnet": [2.0, 4.0], "torch": [1.0, 1.0]} for f in vs_torch.GROUPS["toy"]}
    samples.update({f.key: {"mxnet": [1.0, 1.0], "torch": [0.5, 1.0]} for f in vs_torch.GROUPS["toy-bf16"]})
    s = vs_torch.summary(samples)
    assert s["toy-bf16 wgan-gp critic / float32 (mxnet)"] == pytest.approx(0.375)   # rounds 0.5, 0.25
    assert s["toy-bf16 wgan-gp critic / float32 (torch)"] == pytest.approx(0.75)    # rounds 0.5, 1
    info = dict(mxnet=dict(version="1.9.1", threads="1"), torch=dict(version="2", threads=2))
    text = vs_torch.markdown(dict(machine="m", rounds=2, number=1, summary=s,
                                  workers={"toy": info, "toy-bf16": info}))
    assert "bfloat16 (PyTorch: autocast)" in text and "| ... its time / float32's | 0.38 | 0.75 | |" in text


def test_fig3_cost_counts_the_cifar_networks_multiply_adds():
    """Against the closed form of gan_cifar.py's layers at DIM = 128: in pixels x k^2 x C_in x C_out for a
    transposed convolution, out pixels x k^2 x C_in x C_out for a convolution, in x out for a dense layer."""
    fig3_cost = _load("fig3_cost")
    from gluon_wgan.models import CIFARCritic, CIFARGenerator
    g, d = CIFARGenerator(), CIFARCritic()
    for net in (g, d):
        net.initialize()
    assert fig3_cost.conv_macs(g, (128,)) == 128 * 8192 + 16 * 25 * 512 * 256 + 64 * 25 * 256 * 128 + 256 * 25 * 128 * 3
    assert fig3_cost.conv_macs(d, (3, 32, 32)) == 256 * 25 * 3 * 128 + 64 * 25 * 128 * 256 + 16 * 25 * 256 * 512 + 8192


def test_toy_profile_sorts_the_operators_into_kinds(monkeypatch):
    """toy_profile.py at toy sizes: every operator millisecond lands in a kind, and the kinds and the
    time outside operators add up to the wall time (no time asserted)."""
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))   # it imports vs_torch
    profile = _load("toy_profile").profile(loops=1, warmup=1, sizes=dict(batch=8, hidden=8, n_hidden=3))
    assert profile["dense products, forward"] > 0 and profile["Adam"] > 0
    assert sum(ms for kind, ms in profile.items() if kind != "wall") == pytest.approx(profile["wall"])


def test_toy_profile_times_both_ways_of_a_dense_transpose(monkeypatch):
    monkeypatch.syspath_prepend(os.path.join(ROOT, "benchmarks"))
    times = _load("toy_profile").time_transposes(repeats=2, number=1, rows=4, units=8)
    assert set(times) == {"dot", "FullyConnected(g, transpose(W))"} and all(len(v) == 2 for v in times.values())
