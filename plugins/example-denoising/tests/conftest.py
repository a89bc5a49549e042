"""Makes the plugin importable from its source tree when it is not installed."""
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("palette_kit_example_denoising") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
