"""Oracle for gluon_wgan/metrics/fid_inception.py (the network of fid_network.py, the reader of
torch_reader.py): the same network written in PyTorch, the same weights and images, outputs compared
to float rounding (minGPT's test against Hugging Face, for the FID network).

The PyTorch network below is this project's own transcription of pytorch-fid's description
(FIDInceptionA/C/E_1/E_2 on torchvision's InceptionV3, 1008 logits, bilinear resize to 299, scaling to
[-1, 1]); its random weights are written with ``torch.save`` of the state dict, key names as in
``pt_inception-2015-12-05-6726825d.pth``, and read by our loader without torch. Skipped where torch is not
importable (the CI venv); run with /work/torchvenv/bin/python -m pytest tests/test_fid_inception_torch.py.
"""
import numpy as np
import pytest

torch = pytest.importorskip("torch")
tnn = torch.nn
tF = torch.nn.functional

from gluon_wgan.metrics import fid_inception, torch_reader  # noqa: E402


class ConvBN(tnn.Module):
    def __init__(self, c_in, c_out, kernel, stride=1, padding=0):
        super().__init__()
        self.conv = tnn.Conv2d(c_in, c_out, kernel, stride=stride, padding=padding, bias=False)
        self.bn = tnn.BatchNorm2d(c_out, eps=1e-3)

    def forward(self, x):
        return tF.relu(self.bn(self.conv(x)))


def avg_pool_same(x):
    """TensorFlow's 3 x 3 'SAME' average pool: padded zeros are not counted."""
    return tF.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(tnn.Module):
    def __init__(self, c_in, pool_features):
        super().__init__()
        self.branch1x1 = ConvBN(c_in, 64, 1)
        self.branch5x5_1, self.branch5x5_2 = ConvBN(c_in, 48, 1), ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(c_in, pool_features, 1)

    def forward(self, x):
        return torch.cat([self.branch1x1(x), self.branch5x5_2(self.branch5x5_1(x)),
                          self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          self.branch_pool(avg_pool_same(x))], 1)


class BlockB(tnn.Module):
    def __init__(self, c_in):
        super().__init__()
        self.branch3x3 = ConvBN(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(c_in, 64, 1)
        self.branch3x3dbl_2, self.branch3x3dbl_3 = ConvBN(64, 96, 3, padding=1), ConvBN(96, 96, 3, stride=2)

    def forward(self, x):
        return torch.cat([self.branch3x3(x), self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                          tF.max_pool2d(x, 3, stride=2)], 1)


class BlockC(tnn.Module):
    def __init__(self, c_in, c7):
        super().__init__()
        row, col = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))
        self.branch1x1 = ConvBN(c_in, 192, 1)
        self.branch7x7_1, self.branch7x7_2 = ConvBN(c_in, c7, 1), ConvBN(c7, c7, **row)
        self.branch7x7_3 = ConvBN(c7, 192, **col)
        self.branch7x7dbl_1, self.branch7x7dbl_2 = ConvBN(c_in, c7, 1), ConvBN(c7, c7, **col)
        self.branch7x7dbl_3, self.branch7x7dbl_4 = ConvBN(c7, c7, **row), ConvBN(c7, c7, **col)
        self.branch7x7dbl_5 = ConvBN(c7, 192, **row)
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x):
        a = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        b = x
        for i in range(1, 6):
            b = getattr(self, f"branch7x7dbl_{i}")(b)
        return torch.cat([self.branch1x1(x), a, b, self.branch_pool(avg_pool_same(x))], 1)


class BlockD(tnn.Module):
    def __init__(self, c_in):
        super().__init__()
        self.branch3x3_1, self.branch3x3_2 = ConvBN(c_in, 192, 1), ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(c_in, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x):
        b = x
        for i in range(1, 5):
            b = getattr(self, f"branch7x7x3_{i}")(b)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b, tF.max_pool2d(x, 3, stride=2)], 1)


class BlockE(tnn.Module):
    def __init__(self, c_in, max_pool):
        super().__init__()
        self.max_pool = max_pool        # the graph's last block pools with a max, the first with a mean
        self.branch1x1 = ConvBN(c_in, 320, 1)
        self.branch3x3_1 = ConvBN(c_in, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1, self.branch3x3dbl_2 = ConvBN(c_in, 448, 1), ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(c_in, 192, 1)

    def forward(self, x):
        a = self.branch3x3_1(x)
        b = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = tF.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg_pool_same(x)
        return torch.cat([self.branch1x1(x), self.branch3x3_2a(a), self.branch3x3_2b(a),
                          self.branch3x3dbl_3a(b), self.branch3x3dbl_3b(b), self.branch_pool(pooled)], 1)


class TorchFIDInception(tnn.Module):
    """[-1, 1] images -> (pool_3 (N, 2048), logits (N, 1008)), as pytorch-fid runs the 2015-12-05 graph."""

    def __init__(self):
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = BlockA(192, 32), BlockA(256, 64), BlockA(288, 64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b, self.Mixed_6c = BlockC(768, 128), BlockC(768, 160)
        self.Mixed_6d, self.Mixed_6e = BlockC(768, 160), BlockC(768, 192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b, self.Mixed_7c = BlockE(1280, max_pool=False), BlockE(2048, max_pool=True)
        self.fc = tnn.Linear(2048, 1008)

    def forward(self, images):
        x = (images + 1) / 2                      # pytorch-fid's input range is [0, 1]
        x = tF.interpolate(x, size=(299, 299), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        x = tF.max_pool2d(self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x))), 3, stride=2)
        self.taps = {64: x.mean(dim=(2, 3))}      # pytorch-fid's --dims: earlier blocks, averaged
        x = tF.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
        self.taps[192] = x.mean(dim=(2, 3))
        for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
            x = getattr(self, "Mixed_" + name)(x)
            if name == "6e":
                self.taps[768] = x.mean(dim=(2, 3))
        pool3 = x.mean(dim=(2, 3))
        return pool3, self.fc(pool3)


def randomise_(net, seed):
    """He-normal convolutions and BatchNorm statistics away from identity: every parameter matters."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in net.state_dict().items():
            if name.endswith("conv.weight"):
                fan_in = tensor[0].numel()
                tensor.copy_(torch.randn(tensor.shape, generator=gen) * (2.0 / fan_in) ** 0.5)
            elif name.endswith(("bn.weight", "running_var")):
                tensor.copy_(0.5 + torch.rand(tensor.shape, generator=gen))
            elif name.endswith(("bn.bias", "running_mean")):
                tensor.copy_(0.1 * torch.randn(tensor.shape, generator=gen))
            elif name == "fc.weight":
                tensor.copy_(torch.randn(tensor.shape, generator=gen) / 2048 ** 0.5)
            elif name == "fc.bias":
                tensor.copy_(torch.randn(tensor.shape, generator=gen))
    return net.eval()


@pytest.fixture(scope="module")
def torch_net():
    torch.set_num_threads(2)
    return randomise_(TorchFIDInception(), seed=0)


@pytest.fixture(scope="module", params=["zip", "legacy"])
def weights_file(request, torch_net, tmp_path_factory):
    """The random weights saved as the real file is: torch.save of the state dict (both of its formats)."""
    path = tmp_path_factory.mktemp("pth") / f"random-{request.param}.pth"
    torch.save(torch_net.state_dict(), str(path), _use_new_zipfile_serialization=request.param == "zip")
    return str(path)


def test_reader_returns_what_torch_load_returns(weights_file):
    expected = torch.load(weights_file, map_location="cpu", weights_only=True)
    got = torch_reader.read_torch_state_dict(weights_file)
    assert list(got) == list(expected)
    for name, tensor in expected.items():
        assert got[name].dtype == tensor.numpy().dtype and got[name].shape == tensor.numpy().shape, name
        np.testing.assert_array_equal(got[name], tensor.numpy(), err_msg=name)


@pytest.fixture(scope="module")
def extractor(weights_file, tmp_path_factory):
    """Our network with the weights of `weights_file`, read and converted by our loader (no torch used)."""
    return fid_inception.FIDInceptionFeatures(weights_file, cache_dir=str(tmp_path_factory.mktemp("cache")),
                                              batch_size=2)


SIZES = {"up-32": (32, 32), "same-299": (299, 299), "down-341x317": (341, 317)}


@pytest.fixture(scope="module")
def reference():
    """size name -> (images in [-1, 1], PyTorch's pool_3, PyTorch's logits), computed once per size."""
    cache = {}

    def outputs(name, net):
        if name not in cache:
            images = np.random.default_rng(1).uniform(-1, 1, (2, 3) + SIZES[name]).astype(np.float32)
            with torch.no_grad():
                cache[name] = (images,) + tuple(t.numpy() for t in net(torch.from_numpy(images)))
        return cache[name]
    return outputs


@pytest.mark.parametrize("size", list(SIZES))
def test_gluon_network_equals_the_pytorch_transcription(torch_net, extractor, reference, size):
    """pool_3 and logits on the same images, resize (up, none, down) and scaling included.

    Tolerance: both sides sum float32 products (up to 2048 x 9 per output) in their own orders through
    ~50 layers; rounding of that kind stays a few float32 ulps of the outputs' scale, so 1e-5 of the
    scale leaves room, while a wrong layer, pool or resize moves outputs by a sizeable part of the scale
    (test_comparison_detects_a_changed_pool shows one such case failing the same check).
    """
    images, ref_pool3, ref_logits = reference(size, torch_net)
    pool3, logits, unbiased = extractor.outputs(images)
    bias = torch_net.fc.bias.detach().numpy()
    _assert_close(pool3, ref_pool3)
    _assert_close(logits, ref_logits)
    _assert_close(unbiased, ref_logits - bias)
    _, probs = extractor(images)       # improved-gan's IS: softmax of the logits without the bias
    z = (ref_logits - bias).astype(np.float64)
    ref_probs = np.exp(z - z.max(1, keepdims=True))
    np.testing.assert_allclose(probs, ref_probs / ref_probs.sum(1, keepdims=True), rtol=1e-4, atol=1e-9)


@pytest.fixture(scope="module")
def taps(torch_net, tmp_path_factory):
    """(images, PyTorch's averaged taps by dims, a zip .pth of the weights), for the --dims tests."""
    images = np.random.default_rng(3).uniform(-1, 1, (2, 3, 24, 24)).astype(np.float32)
    with torch.no_grad():
        torch_net(torch.from_numpy(images))
    path = str(tmp_path_factory.mktemp("taps") / "w.pth")
    torch.save(torch_net.state_dict(), path)
    return images, {k: v.numpy() for k, v in torch_net.taps.items()}, path


@pytest.mark.parametrize("dims", [64, 192, 768])
def test_earlier_feature_taps_equal_the_pytorch_transcription(taps, dims, tmp_path_factory):
    """--dims 64/192/768: the averaged outputs of the first and second max pools and of Mixed_6e."""
    images, expected, path = taps
    extractor = fid_inception.FIDInceptionFeatures(path, cache_dir=str(tmp_path_factory.getbasetemp() / "taps"),
                                                   batch_size=2, dims=dims)
    features, _ = extractor(images)
    assert features.shape == (2, dims) and not extractor.comparable_with_papers
    _assert_close(features, expected[dims])


def test_comparison_detects_a_changed_pool(torch_net, reference):
    """The tolerance above is tight enough to see one pool changed (Mixed_7c's max pool made a mean)."""
    images, pool3, _ = reference("up-32", torch_net)
    torch_net.Mixed_7c.max_pool = False
    try:
        with torch.no_grad():
            changed, _ = torch_net(torch.from_numpy(images))
    finally:
        torch_net.Mixed_7c.max_pool = True
    with pytest.raises(AssertionError):
        _assert_close(changed.numpy(), pool3)


def _assert_close(actual, expected):
    scale = float(np.abs(expected).max())
    np.testing.assert_allclose(actual, expected, rtol=1e-5, atol=1e-5 * scale)
