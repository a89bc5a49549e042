"""Building blocks of the colorization recipe's photo corpus: one job per module (see the recipe's docstring)."""
