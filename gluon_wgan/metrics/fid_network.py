"""The FID Inception network, the TensorFlow graph ``inception-2015-12-05``, written in Gluon.

FID (Heusel et al. 2017, section 3) and the Inception Score (Salimans et al. 2016, section 4) as papers
report them come from one network: the TensorFlow Inception graph ``inception-2015-12-05`` (bioinf-jku/TTUR,
openai/improved-gan). mseitzer/pytorch-fid ported its weights to ``pt_inception-2015-12-05-6726825d.pth``
and describes the graph as torchvision's InceptionV3 with four changes, transcribed here:

- the average pools of the A, C and first E blocks (Mixed_5b-d, 6b-e, 7b) leave the zero padding out of
  the mean (TensorFlow's 'SAME' average pooling);
- the pool branch of the last E block (Mixed_7c) takes a 3 x 3 *max* pool (an oddity of that graph);
- 1008 logits (ImageNet's 1000 classes plus unused ones, as the graph has them);
- inputs resized to 299 x 299 bilinearly with half-pixel centres (PyTorch's ``align_corners=False``),
  then scaled to [-1, 1].

The parameters are named as pytorch-fid's state dict names them (`gluon_name` maps a key), so that
`gluon_wgan.metrics.fid_weights` can fill them from the downloaded file.
"""
from mxnet.gluon import HybridBlock, nn

INPUT_SIZE = 299
NUM_CLASSES = 1008
# pytorch-fid's --dims: channels after the first max pool, the second max pool, Mixed_6e and the final
# average pool ('pool_3', the standard FID features); the value is the stage whose output is tapped.
FEATURE_TAPS = {64: 0, 192: 1, 768: 2, 2048: 3}
BN_EPS = 1e-3          # BatchNorm epsilon of torchvision's BasicConv2d, which pytorch-fid loads the weights into


class _ConvBN(HybridBlock):
    """Convolution without bias, BatchNorm with the stored statistics, ReLU (one 'BasicConv2d')."""

    def __init__(self, in_channels, channels, kernel, stride=1, padding=0, prefix=None):
        super().__init__(prefix=prefix)
        with self.name_scope():
            self.conv = nn.Conv2D(channels, kernel, strides=stride, padding=padding, use_bias=False,
                                  in_channels=in_channels, prefix="conv.")
            # use_global_stats: running statistics even inside autograd.record() (a metric never trains).
            self.bn = nn.BatchNorm(epsilon=BN_EPS, in_channels=channels, use_global_stats=True, prefix="bn.")

    def hybrid_forward(self, F, x):
        return F.relu(self.bn(self.conv(x)))


def _conv(name, c_in, c_out, kernel, stride=1, padding=0):
    return _ConvBN(c_in, c_out, kernel, stride, padding, prefix=name + ".")


class _Mixed(HybridBlock):
    """An Inception block: branches of `_ConvBN` chains and one pool branch, concatenated on channels.

    `chains` lists the branches in output order, each a list of `_ConvBN`; a pair stands for the (1, 3)
    and (3, 1) convolutions that end the E block's branches, side by side. `pool` is 'avg' (3 x 3,
    stride 1, the padding left out of the mean), 'max' (3 x 3, stride 1, padding 1) or 'max2' (3 x 3,
    stride 2, no convolution after it: the B and D blocks).
    """

    def __init__(self, chains, pool, pool_conv=None):
        super().__init__(prefix="")        # the layers carry their full names already
        self.pool = pool
        self.chains = chains
        self.pool_conv = pool_conv
        for chain in chains:
            for layer in chain:
                for block in (layer if isinstance(layer, tuple) else (layer,)):
                    self.register_child(block)

    def hybrid_forward(self, F, x):
        outputs = []
        for chain in self.chains:
            y = x
            for layer in chain:
                y = F.concat(layer[0](y), layer[1](y), dim=1) if isinstance(layer, tuple) else layer(y)
            outputs.append(y)
        if self.pool == "avg":     # TensorFlow's 'SAME' average pool: padded zeros are not counted
            pooled = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="avg",
                               count_include_pad=False)
        elif self.pool == "max":
            pooled = F.Pooling(x, kernel=(3, 3), stride=(1, 1), pad=(1, 1), pool_type="max")
        else:
            pooled = F.Pooling(x, kernel=(3, 3), stride=(2, 2), pool_type="max")
        outputs.append(self.pool_conv(pooled) if self.pool_conv is not None else pooled)
        return F.concat(*outputs, dim=1)


ROW7, COL7 = dict(kernel=(1, 7), padding=(0, 3)), dict(kernel=(7, 1), padding=(3, 0))   # factorised 7 x 7
ROW3, COL3 = dict(kernel=(1, 3), padding=(0, 1)), dict(kernel=(3, 1), padding=(1, 0))   # factorised 3 x 3


def _block_a(n, c_in, pool_features):
    """Mixed_5b-d: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avg pool-1x1."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 64, 1)],
                   [_conv(n + ".branch5x5_1", c_in, 48, 1), _conv(n + ".branch5x5_2", 48, 64, 5, padding=2)],
                   [_conv(n + ".branch3x3dbl_1", c_in, 64, 1), _conv(n + ".branch3x3dbl_2", 64, 96, 3, padding=1),
                    _conv(n + ".branch3x3dbl_3", 96, 96, 3, padding=1)]],
                  "avg", _conv(n + ".branch_pool", c_in, pool_features, 1))


def _block_b(n, c_in):
    """Mixed_6a, the 35 -> 17 reduction: 3x3/2 | 1x1-3x3-3x3/2 | max pool/2."""
    return _Mixed([[_conv(n + ".branch3x3", c_in, 384, 3, stride=2)],
                   [_conv(n + ".branch3x3dbl_1", c_in, 64, 1), _conv(n + ".branch3x3dbl_2", 64, 96, 3, padding=1),
                    _conv(n + ".branch3x3dbl_3", 96, 96, 3, stride=2)]],
                  "max2")


def _block_c(n, c_in, c7):
    """Mixed_6b-e: 1x1 | 1x1-1x7-7x1 | 1x1-7x1-1x7-7x1-1x7 | avg pool-1x1."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 192, 1)],
                   [_conv(n + ".branch7x7_1", c_in, c7, 1), _conv(n + ".branch7x7_2", c7, c7, **ROW7),
                    _conv(n + ".branch7x7_3", c7, 192, **COL7)],
                   [_conv(n + ".branch7x7dbl_1", c_in, c7, 1), _conv(n + ".branch7x7dbl_2", c7, c7, **COL7),
                    _conv(n + ".branch7x7dbl_3", c7, c7, **ROW7), _conv(n + ".branch7x7dbl_4", c7, c7, **COL7),
                    _conv(n + ".branch7x7dbl_5", c7, 192, **ROW7)]],
                  "avg", _conv(n + ".branch_pool", c_in, 192, 1))


def _block_d(n, c_in):
    """Mixed_7a, the 17 -> 8 reduction: 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | max pool/2."""
    return _Mixed([[_conv(n + ".branch3x3_1", c_in, 192, 1), _conv(n + ".branch3x3_2", 192, 320, 3, stride=2)],
                   [_conv(n + ".branch7x7x3_1", c_in, 192, 1), _conv(n + ".branch7x7x3_2", 192, 192, **ROW7),
                    _conv(n + ".branch7x7x3_3", 192, 192, **COL7), _conv(n + ".branch7x7x3_4", 192, 192, 3, stride=2)]],
                  "max2")


def _block_e(n, c_in, pool):
    """Mixed_7b-c: 1x1 | 1x1-(1x3, 3x1) | 1x1-3x3-(1x3, 3x1) | pool-1x1; Mixed_7c's pool is a max pool."""
    return _Mixed([[_conv(n + ".branch1x1", c_in, 320, 1)],
                   [_conv(n + ".branch3x3_1", c_in, 384, 1),
                    (_conv(n + ".branch3x3_2a", 384, 384, **ROW3), _conv(n + ".branch3x3_2b", 384, 384, **COL3))],
                   [_conv(n + ".branch3x3dbl_1", c_in, 448, 1), _conv(n + ".branch3x3dbl_2", 448, 384, 3, padding=1),
                    (_conv(n + ".branch3x3dbl_3a", 384, 384, **ROW3),
                     _conv(n + ".branch3x3dbl_3b", 384, 384, **COL3))]],
                  pool, _conv(n + ".branch_pool", c_in, 192, 1))


class FIDInceptionV3(HybridBlock):
    """The FID Inception network: images in [-1, 1] -> (features, logits, logits without bias).

    Parameter names are those of pytorch-fid's state dict (``Mixed_5b.branch1x1.conv.weight``), with
    BatchNorm's ``weight``/``bias`` called ``gamma``/``beta`` as in Gluon; the default prefix is empty so
    that the names match exactly.

    Parameters
    ----------
    dims : {64, 192, 768, 2048}, default 2048
        Which features to return, averaged over their spatial positions: 2048 is ``pool_3``, the FID
        features of TTUR and pytorch-fid; the others tap earlier stages like pytorch-fid's ``--dims``.

    Inputs: images (N, 3, H, W), RGB in [-1, 1], any H and W (resized to 299 x 299).
    Outputs: features (N, dims); logits (N, 1008) = ``pool_3 W^T + b`` (pytorch-fid's ``fc``); logits
    (N, 1008) without the bias, ``pool_3 W^T``, from which openai/improved-gan's Inception Score takes its
    softmax (``tf.matmul(pool3, w)`` with ``w`` the graph's 'softmax/logits/MatMul' weights).

    Raises
    ------
    ValueError
        For a `dims` that is not a tap.
    """

    def __init__(self, dims=2048, prefix="", **kwargs):
        super().__init__(prefix=prefix, **kwargs)
        if dims not in FEATURE_TAPS:
            raise ValueError(f"dims must be one of {', '.join(map(str, FEATURE_TAPS))}, got {dims!r}")
        self.tap = FEATURE_TAPS[dims]
        with self.name_scope():
            self.stage0 = nn.HybridSequential(prefix="")      # 299 -> 73, 64 channels
            self.stage0.add(_conv("Conv2d_1a_3x3", 3, 32, 3, stride=2), _conv("Conv2d_2a_3x3", 32, 32, 3),
                            _conv("Conv2d_2b_3x3", 32, 64, 3, padding=1), nn.MaxPool2D(3, 2))
            self.stage1 = nn.HybridSequential(prefix="")      # 73 -> 35, 192 channels
            self.stage1.add(_conv("Conv2d_3b_1x1", 64, 80, 1), _conv("Conv2d_4a_3x3", 80, 192, 3),
                            nn.MaxPool2D(3, 2))
            self.stage2 = nn.HybridSequential(prefix="")      # 35 -> 17, 768 channels
            self.stage2.add(_block_a("Mixed_5b", 192, 32), _block_a("Mixed_5c", 256, 64),
                            _block_a("Mixed_5d", 288, 64), _block_b("Mixed_6a", 288),
                            _block_c("Mixed_6b", 768, 128), _block_c("Mixed_6c", 768, 160),
                            _block_c("Mixed_6d", 768, 160), _block_c("Mixed_6e", 768, 192))
            self.stage3 = nn.HybridSequential(prefix="")      # 17 -> 8, 2048 channels
            self.stage3.add(_block_d("Mixed_7a", 768), _block_e("Mixed_7b", 1280, "avg"),
                            _block_e("Mixed_7c", 2048, "max"))
            self.fc_weight = self.params.get("fc.weight", shape=(NUM_CLASSES, 2048))
            self.fc_bias = self.params.get("fc.bias", shape=(NUM_CLASSES,))

    def hybrid_forward(self, F, x, fc_weight, fc_bias):
        # pytorch-fid takes [0, 1] images, resizes, then maps to [-1, 1]: the same steps in the same order.
        x = (x + 1) / 2
        x = F.contrib.BilinearResize2D(x, height=INPUT_SIZE, width=INPUT_SIZE, align_corners=False)
        x = 2 * x - 1
        features = None
        for i, stage in enumerate((self.stage0, self.stage1, self.stage2, self.stage3)):
            x = stage(x)
            if i == self.tap:
                features = F.mean(x, axis=(2, 3))             # average over positions ('pool_3' at 8 x 8)
        pool3 = F.mean(x, axis=(2, 3))
        unbiased = F.FullyConnected(pool3, fc_weight, no_bias=True, num_hidden=NUM_CLASSES)
        return features, F.broadcast_add(unbiased, F.reshape(fc_bias, (1, -1))), unbiased


def parameter_shapes():
    """{Gluon parameter name: shape} of `FIDInceptionV3`, i.e. what a converted file must hold."""
    return {name: tuple(p.shape) for name, p in FIDInceptionV3().collect_params().items()}


def gluon_name(torch_name):
    """The Gluon parameter name of a pytorch-fid state-dict key (BatchNorm's weight/bias -> gamma/beta)."""
    for torch_suffix, gluon_suffix in ((".bn.weight", ".bn.gamma"), (".bn.bias", ".bn.beta")):
        if torch_name.endswith(torch_suffix):
            return torch_name[:-len(torch_suffix)] + gluon_suffix
    return torch_name
