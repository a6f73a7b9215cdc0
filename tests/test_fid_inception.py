"""The FID Inception extractor without torch: the restricted reader (metrics/torch_reader.py), the
conversion cache (metrics/fid_weights.py), the head (metrics/fid_network.py, metrics/fid_inception.py).

State-dict files are written here by hand, pickle opcode by opcode, in both layouts of ``torch.save``
(the zip archive and the legacy stream), so these tests need no torch; tests/test_fid_inception_torch.py
checks the same reader against files that torch itself wrote, and the network against PyTorch.
"""
import os
import pickle

import numpy as np
import pytest

from gluon_wgan.metrics import fid_inception, fid_network, fid_weights, torch_reader
from torch_files import (op_global, op_int, op_ints, op_str, random_weights, state_dict_pickle, write_legacy,
                         write_state_dict, write_zip)

# ------------------------------------------------------------------------------------------- the reader

@pytest.mark.parametrize("layout", ["zip", "legacy"])
def test_reader_rebuilds_views_shared_storages_and_dtypes(tmp_path, layout):
    """Offsets, strides (a transpose), one storage shared by two tensors, 0-d int64, float64."""
    shared = np.arange(12, dtype=np.float32)
    tensors = [("a", "0", shared, 0, (3, 4), (4, 1)),
               ("a_t", "0", shared, 0, (4, 3), (1, 4)),            # the transpose, same storage
               ("tail", "0", shared, 5, (2, 3), (3, 1)),            # a view at an offset
               ("count", "1", np.array([7], np.int64), 0, (), ()),   # like num_batches_tracked
               ("double", "2", np.linspace(0, 1, 5), 1, (2,), (2,))]
    data, storages = state_dict_pickle(tensors)
    path = str(tmp_path / "s.pth")
    (write_zip if layout == "zip" else write_legacy)(path, data, storages)
    got = torch_reader.read_torch_state_dict(path)
    assert list(got) == ["a", "a_t", "tail", "count", "double"]
    np.testing.assert_array_equal(got["a"], shared.reshape(3, 4))
    np.testing.assert_array_equal(got["a_t"], shared.reshape(3, 4).T)
    np.testing.assert_array_equal(got["tail"], shared[5:11].reshape(2, 3))
    assert got["count"].shape == () and got["count"].dtype == np.int64 and got["count"] == 7
    np.testing.assert_array_equal(got["double"], np.linspace(0, 1, 5)[[1, 3]])


class _RunsCommand:
    """Pickles to 'call os.system(command)' on load: the classic malicious pickle."""

    def __init__(self, command):
        self.command = command

    def __reduce__(self):
        return os.system, (self.command,)


def _crafted(marker):
    """Files that would run `touch marker` (or similar) under an ordinary unpickler."""
    command = f"touch {marker}"
    by_opcodes = b"\x80\x02" + op_global("os", "system") + op_str(command) + b"\x85R."       # TUPLE1, REDUCE
    eval_call = b"\x80\x02" + op_global("builtins", "eval") + op_str(f"open({str(marker)!r}, 'w')") + b"\x85R."
    # An allowed dict whose value smuggles a call: the refusal must come before the call.
    inside_dict = b"\x80\x02" + op_global("collections", "OrderedDict") + b")R" + op_str("w") \
        + op_global("posix", "system") + op_str(command) + b"\x85Rs."
    return {"os.system by opcodes": by_opcodes, "builtins.eval": eval_call, "inside a state dict": inside_dict,
            "protocol 2 dumps of a class": pickle.dumps(_RunsCommand(command), protocol=2)}


@pytest.mark.parametrize("layout", ["zip", "legacy"])
@pytest.mark.parametrize("case", list(_crafted("m")))
def test_reader_refuses_crafted_file_in_one_line_and_runs_nothing(tmp_path, layout, case):
    marker = tmp_path / "marker"
    data = _crafted(marker)[case]
    assert pickle.loads(data) is not None and marker.exists(), "the crafted pickle is not malicious after all"
    marker.unlink()
    path = str(tmp_path / "evil.pth")
    (write_zip if layout == "zip" else write_legacy)(path, data, {})
    with pytest.raises(ValueError) as err:
        torch_reader.read_torch_state_dict(path)
    assert not marker.exists()
    message = str(err.value)
    assert "\n" not in message and "refusing" in message and path in message


def test_reader_refuses_a_stand_in_used_with_other_arguments(tmp_path):
    """An admitted name is admitted only as a state dict uses it: _rebuild_tensor_v2 wants a storage."""
    data = b"\x80\x02" + op_global("torch._utils", "_rebuild_tensor_v2") + b"(" + op_str("not a storage") \
        + op_int(0) + op_ints((1,)) + op_ints((1,)) + b"\x89" + b")" + b"tR."
    path = str(tmp_path / "odd.pth")
    write_zip(path, data, {})
    with pytest.raises(ValueError, match="refusing|not a storage"):
        torch_reader.read_torch_state_dict(path)


@pytest.mark.parametrize("what", ["a list", "a truncated zip", "a storage shorter than its tensor"])
def test_reader_refuses_what_is_not_a_state_dict(tmp_path, what):
    path = str(tmp_path / "x.pth")
    if what == "a list":
        write_zip(path, pickle.dumps([1, 2], protocol=2), {})
    elif what == "a truncated zip":
        write_state_dict(path, {"w": np.ones(1000, np.float32)})
        with open(path, "rb") as f:
            head = f.read(300)
        with open(path, "wb") as f:
            f.write(head)
    else:
        data, storages = state_dict_pickle([("w", "0", np.ones(4, np.float32), 2, (3,), (1,))])
        write_zip(path, data, storages)
    with pytest.raises(ValueError) as err:
        torch_reader.read_torch_state_dict(path)
    assert "\n" not in str(err.value) and path in str(err.value)


# ------------------------------------------------------------------------------------ conversion, cache

@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    """(path of a full-size handmade .pth, its arrays by torch name)."""
    arrays = random_weights()
    path = str(tmp_path_factory.mktemp("pth") / "random.pth")
    write_state_dict(path, arrays)
    return path, arrays


def test_converted_weights_are_the_files_under_gluon_names(weights, tmp_path):
    path, arrays = weights
    converted, identity = fid_weights.load_weights(path, str(tmp_path))
    assert set(converted) == set(fid_network.parameter_shapes())
    np.testing.assert_array_equal(converted["Mixed_7c.branch_pool.bn.gamma"], arrays["Mixed_7c.branch_pool.bn.weight"])
    np.testing.assert_array_equal(converted["Conv2d_1a_3x3.bn.beta"], arrays["Conv2d_1a_3x3.bn.bias"])
    np.testing.assert_array_equal(converted["fc.weight"], arrays["fc.weight"])
    assert identity == "fid-inception:sha256:" + fid_weights.sha256_of(path)   # not the published file


def test_second_load_reads_the_cache_not_the_pth(weights, tmp_path, monkeypatch):
    path, _ = weights
    calls = []
    read = fid_weights.read_torch_state_dict
    monkeypatch.setattr(fid_weights, "read_torch_state_dict", lambda p: calls.append(p) or read(p))
    first, _ = fid_weights.load_weights(path, str(tmp_path))
    assert calls == [path]
    assert sorted(os.listdir(tmp_path)) == sorted(f"fid_inception-{fid_weights.sha256_of(path)[:16]}.{ext}"
                                                  for ext in ("json", "npz"))

    def must_not_parse(p):
        raise AssertionError("the .pth was parsed again")
    monkeypatch.setattr(fid_weights, "read_torch_state_dict", must_not_parse)
    second, _ = fid_weights.load_weights(path, str(tmp_path))
    assert set(second) == set(first)
    for name in first:
        np.testing.assert_array_equal(second[name], first[name])


@pytest.mark.parametrize("edit", ["npz bytes", "manifest checksum"])
def test_cache_with_a_changed_checksum_is_refused(weights, tmp_path, edit):
    path, _ = weights
    fid_weights.load_weights(path, str(tmp_path))
    npz = next(str(p) for p in tmp_path.iterdir() if p.suffix == ".npz")
    if edit == "npz bytes":
        converted = dict(np.load(npz))
        converted["fc.bias"] = converted["fc.bias"] + 1       # a valid .npz, other values
        np.savez(npz, **converted)
    else:
        manifest = npz[:-4] + ".json"
        text = open(manifest).read()
        recorded = fid_weights.sha256_of(npz)
        open(manifest, "w").write(text.replace(recorded, "0" * 64))
    with pytest.raises(ValueError, match="SHA-256") as err:
        fid_weights.load_weights(path, str(tmp_path))
    assert "\n" not in str(err.value)


def test_an_unwritable_cache_costs_a_conversion_not_the_evaluation(weights, tmp_path, caplog):
    path, arrays = weights
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    converted, _ = fid_weights.load_weights(path, str(blocker / "cache"))    # makedirs fails under a file
    np.testing.assert_array_equal(converted["fc.bias"], arrays["fc.bias"])
    assert "cannot cache the converted weights" in caplog.text
    assert sorted(os.listdir(tmp_path)) == ["a-file"]


def test_a_file_of_another_layout_is_refused_naming_the_parameters(tmp_path):
    arrays = random_weights()
    del arrays["Mixed_6e.branch_pool.conv.weight"]
    arrays["fc.weight"] = arrays["fc.weight"][:1000]                # torchvision's 1000 classes
    path = str(tmp_path / "other.pth")
    write_state_dict(path, arrays, layout="legacy")
    with pytest.raises(ValueError, match=r"missing Mixed_6e\.branch_pool\.conv\.weight.*misshapen fc\.weight"):
        fid_weights.load_weights(path, str(tmp_path / "cache"))
    assert not (tmp_path / "cache").exists() or not os.listdir(tmp_path / "cache")


def test_missing_file_names_the_download(tmp_path):
    with pytest.raises(ValueError, match=fid_weights.WEIGHTS_FILE):
        fid_weights.load_weights(str(tmp_path / "nope.pth"), str(tmp_path))


# -------------------------------------------------------------------------------------- the extractor

def test_extractor_head_is_pool3_times_fc_and_is_uses_no_bias(weights, tmp_path):
    """logits = pool_3 W^T + b (pytorch-fid's fc); the IS probabilities are softmax(pool_3 W^T), as
    openai/improved-gan computes them from the graph's 'softmax/logits/MatMul' weights (no bias)."""
    path, arrays = weights
    extractor = fid_inception.FIDInceptionFeatures(path, cache_dir=str(tmp_path), batch_size=3)
    images = np.random.default_rng(0).uniform(-1, 1, (4, 3, 16, 16)).astype(np.float32)
    pool3, logits, unbiased = extractor.outputs(images)    # two batches: 3 + 1
    assert pool3.shape == (4, 2048) and logits.shape == unbiased.shape == (4, fid_network.NUM_CLASSES)
    w, b = arrays["fc.weight"].astype(np.float64), arrays["fc.bias"].astype(np.float64)
    np.testing.assert_allclose(unbiased, pool3 @ w.T, rtol=1e-4, atol=1e-6 * np.abs(pool3 @ w.T).max())
    np.testing.assert_allclose(logits - unbiased, np.broadcast_to(b, logits.shape), rtol=1e-4, atol=1e-5)
    features, probs = extractor(images)
    np.testing.assert_array_equal(features, pool3)
    z = np.exp(unbiased - unbiased.max(1, keepdims=True))
    np.testing.assert_allclose(probs, z / z.sum(1, keepdims=True), rtol=1e-5)
    single, _ = extractor(images[:1])
    np.testing.assert_allclose(single, pool3[:1], rtol=1e-5, atol=1e-6 * np.abs(pool3).max())
