"""Metrics of a whole set of results against their truths, as the literature reports them.

- FID and KID on the 2048-d features of the FID Inception-v3 (``inception``), computed by ``distribution``.
  With n pictures: FID is biased upward below ~2,000 pictures; KID is unbiased at any n and comes with
  its standard error, so it is the one to compare on a few hundred. Results are paired with their truths,
  so KID is the paired estimator (it leaves out each result's similarity to its own truth).
- CA, classification accuracy as Palette reports it: how often an ImageNet classifier (EfficientNet-Lite0)
  gives the result the same top-1 class as the original.

Pictures are added one at a time and only their features and classes are kept, so a set of any size
fits in memory. Both networks are optional installs (``unavailable`` says how to get them).
"""
from __future__ import annotations

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


class SetMetrics:
    """FID, KID and CA of results, and of the task's baselines, against the same truths."""

    def __init__(self, inception_net: FidInception, classifier: EfficientNetLite0) -> None:
        self.inception, self.classifier = inception_net, classifier
        self.features: dict[str, list[np.ndarray]] = {"truth": [], "output": [], "baseline": []}
        self.classes: dict[str, list[int]] = {"truth": [], "output": [], "baseline": []}

    @classmethod
    def load(cls, device: torch.device | str = "cpu") -> SetMetrics:
        """Both pretrained networks on ``device`` (their files' SHA-256 checked); they compute in float32."""
        return cls(FidInception(device=device), load_efficientnet_lite0().to(device))

    def add(self, output: np.ndarray, truth: np.ndarray, baseline: np.ndarray | None = None) -> None:
        """One result, its truth and (if the task has one) its baseline: BGR ``uint8`` pictures of any size."""
        for name, picture in (("truth", truth), ("output", output), ("baseline", baseline)):
            if picture is not None:
                self.features[name].append(self.inception.features([picture])[0])
                self.classes[name].append(self.top1(picture))

    @torch.no_grad()
    def top1(self, picture: np.ndarray) -> int:
        """The classifier's top-1 ImageNet class of a BGR ``uint8`` picture."""
        rgb = torch.from_numpy(np.ascontiguousarray(picture[..., ::-1])).permute(2, 0, 1)[None]
        x = rgb.to(next(self.classifier.parameters()).device, torch.float32) / 127.5 - 1
        return int(self.classifier.classify(x).argmax(dim=1))

    def summary(self) -> dict[str, float]:
        """``n`` (pictures added), then ``fid``, ``kid``, ``kid_se`` (n >= 2; ``kid_se`` is NaN below 3) and ``ca``
        of the results, and the same with the prefix ``baseline_`` when every picture had a baseline."""
        n = len(self.classes["truth"])
        summary: dict[str, float] = {"n": n}
        truth_features, truth_classes = np.array(self.features["truth"]), np.array(self.classes["truth"])
        for prefix, name in (("", "output"), (BASELINE, "baseline")):
            if n == 0 or len(self.classes[name]) != n:
                continue
            if n >= 2:
                features = np.array(self.features[name])
                summary[prefix + "fid"] = fid(features, truth_features)
                summary[prefix + "kid"], summary[prefix + "kid_se"] = kid(features, truth_features, paired=True)
            summary[prefix + "ca"] = float(np.mean(np.array(self.classes[name]) == truth_classes))
        return summary
