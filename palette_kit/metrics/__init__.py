"""Metrics: per picture (``picture``, ``lab``) in numpy, and over sets of pictures (``distribution``: FID and KID
of feature sets; ``sets``: FID, KID and classification accuracy of results against their truths, which need the
pretrained networks of ``inception`` and ``palette_kit.nn.efficientnet``)."""
from palette_kit.metrics.lab import bgr_to_cie_lab, ciede2000
from palette_kit.metrics.picture import colourfulness, mean_ciede2000, picture_metrics, psnr, ssim

__all__ = ["bgr_to_cie_lab", "ciede2000", "colourfulness", "mean_ciede2000", "picture_metrics", "psnr", "ssim"]
