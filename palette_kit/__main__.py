"""``python -m palette_kit``: the CLI, for launchers that start modules (``torchrun -m palette_kit train ...``)."""
from palette_kit.cli import main

main()
