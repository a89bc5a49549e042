"""Makes the plugin importable from its source tree when it is not installed."""
import importlib.util
import sys
from pathlib import Path

if importlib.util.find_spec("palette_kit_colorization") is None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# The recipe's corpus package lives beside the recipe script, not in the plugin.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scripts"))
