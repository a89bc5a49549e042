"""Metrics of a whole set of results against their truths, as the literature reports them.

- FID and KID on the 2048-d features of the FID Inception-v3 (``inception``), computed by ``distribution``.
  With n pictures: FID is biased upward below ~2,000 pictures; KID is unbiased at any n and comes with
  its standard error, so it is the one to compare on a few hundred. Results are paired with their truths,
  so KID is the paired estimator (it leaves out each result's similarity to its own truth).
- CA, classification accuracy as Palette reports it: how often an ImageNet classifier (EfficientNet-Lite0)
  gives the result the same top-1 class as the original.

Pictures are added one at a time and only their features and classes are kept (``Measured``), so a set of
any size fits in memory, and the shares of several processes can be gathered and joined.
Both networks are optional installs (``unavailable`` says how to get them).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from importlib.util import find_spec

import numpy as np
import torch

from palette_kit.metrics import inception
from palette_kit.metrics.distribution import fid, kid
from palette_kit.metrics.inception import FidInception
from palette_kit.nn import efficientnet
from palette_kit.nn.efficientnet import EfficientNetLite0, load_efficientnet_lite0

#: Prefix of the metrics of the task's baseline (what a user gets without the model).
BASELINE = "baseline_"
INSTALL = inception.INSTALL


def unavailable() -> str | None:
    """None when both networks are installed, else one line saying how to install them."""
    if inception.weights_path() is None or find_spec(efficientnet.WEIGHTS_PACKAGE) is None:
        return f"FID, KID and CA need two pretrained networks: {INSTALL}"
    return None


@dataclass
class Measured:
    """What the set metrics keep of one picture: the features and top-1 class of its truth, its result and (if
    the task has one) its baseline, under the picture's ``name``."""

    name: str
    features: dict[str, np.ndarray] = field(default_factory=dict)
    classes: dict[str, int] = field(default_factory=dict)


class SetMetrics:
    """FID, KID and CA of results, and of the task's baselines, against the same truths.

    ``pictures`` is what was measured, in order; lists of them from several processes can be joined (the
    metrics need only them, not the networks)."""

    def __init__(self, inception_net: FidInception, classifier: EfficientNetLite0) -> None:
        self.inception, self.classifier = inception_net, classifier
        self.pictures: list[Measured] = []

    @classmethod
    def load(cls, device: torch.device | str = "cpu") -> SetMetrics:
        """Both pretrained networks on ``device`` (their files' SHA-256 checked); they compute in float32."""
        return cls(FidInception(device=device), load_efficientnet_lite0().to(device))

    def add(self, output: np.ndarray, truth: np.ndarray, baseline: np.ndarray | None = None, name: str = "") -> None:
        """One result, its truth and (if the task has one) its baseline: BGR ``uint8`` pictures of any size."""
        measured = Measured(name)
        for kind, picture in (("truth", truth), ("output", output), ("baseline", baseline)):
            if picture is not None:
                measured.features[kind] = self.inception.features([picture])[0]
                measured.classes[kind] = self.top1(picture)
        self.pictures.append(measured)

    @torch.no_grad()
    def top1(self, picture: np.ndarray) -> int:
        """The classifier's top-1 ImageNet class of a BGR ``uint8`` picture."""
        rgb = torch.from_numpy(np.ascontiguousarray(picture[..., ::-1])).permute(2, 0, 1)[None]
        x = rgb.to(next(self.classifier.parameters()).device, torch.float32) / 127.5 - 1
        return int(self.classifier.classify(x).argmax(dim=1))

    def summary(self) -> dict[str, float]:
        """``n`` (pictures added), then ``fid``, ``kid``, ``kid_se`` (n >= 2; ``kid_se`` is NaN below 3) and ``ca``
        of the results, and the same with the prefix ``baseline_`` when every picture had a baseline."""
        n = len(self.pictures)
        summary: dict[str, float] = {"n": n}
        if n == 0:
            return summary
        truth_features = np.array([p.features["truth"] for p in self.pictures])
        truth_classes = np.array([p.classes["truth"] for p in self.pictures])
        for prefix, kind in (("", "output"), (BASELINE, "baseline")):
            if not all(kind in p.classes for p in self.pictures):
                continue
            if n >= 2:
                features = np.array([p.features[kind] for p in self.pictures])
                summary[prefix + "fid"] = fid(features, truth_features)
                summary[prefix + "kid"], summary[prefix + "kid_se"] = kid(features, truth_features, paired=True)
            summary[prefix + "ca"] = float(np.mean(np.array([p.classes[kind] for p in self.pictures]) == truth_classes))
        return summary
