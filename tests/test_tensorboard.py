"""--tensorboard: the event files hold the values of metrics.jsonl and the sample grids, read back here
from TensorBoard's record format (length, CRC, Event proto) without TensorBoard."""
import io
import json
import logging
import os
import struct

import numpy as np
from PIL import Image

from gluon_wgan.training.loop import train


def read_events(folder):
    """Every Event of every event file in `folder`, in file order."""
    from mxboard.proto import event_pb2
    events = []
    for name in sorted(os.listdir(folder)):
        data = open(os.path.join(folder, name), "rb").read()
        pos = 0
        while pos < len(data):
            (length,) = struct.unpack("<Q", data[pos:pos + 8])
            pos += 12                           # length, then its CRC
            events.append(event_pb2.Event.FromString(data[pos:pos + length]))
            pos += length + 4                   # the record, then its CRC
    return events


def test_event_files_carry_the_metrics_and_the_samples(tiny_cfg, caplog):
    cfg = tiny_cfg(gen_iters=6, tensorboard=True)
    with caplog.at_level(logging.INFO):
        train(cfg, progress=False)
    assert not [r for r in caplog.records if r.name.startswith("mxboard")]   # its "opened", "wrote N events"
    scalars, images = {}, {}
    for event in read_events(os.path.join(cfg.outdir, "tensorboard")):
        for value in event.summary.value:
            if value.HasField("image"):
                images[event.step] = np.asarray(Image.open(io.BytesIO(value.image.encoded_image_string)))
            else:
                scalars[(value.tag, event.step)] = value.simple_value
    records = [json.loads(line) for line in open(os.path.join(cfg.outdir, "metrics.jsonl"))]
    expected = {(k, r["gen_iter"]): v for r in records for k, v in r.items()
                if k != "gen_iter" and isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert set(scalars) == set(expected) and len(expected) >= 6 * 5
    for key, value in expected.items():
        assert scalars[key] == np.float32(value), key    # TensorBoard keeps float32
    assert sorted(images) == [3, 6]
    # One numbering: the scalars of the record written after N generator iterations sit at step N,
    # as the sample grid drawn then does.
    assert {step for _, step in scalars} == set(range(1, 7))
    for step, image in images.items():
        png = np.asarray(Image.open(os.path.join(cfg.outdir, "samples", f"{step:07d}.png")))
        np.testing.assert_array_equal(image, png)


def test_off_by_default(tiny_cfg):
    cfg = tiny_cfg(gen_iters=1)
    train(cfg, progress=False)
    assert not os.path.exists(os.path.join(cfg.outdir, "tensorboard"))
