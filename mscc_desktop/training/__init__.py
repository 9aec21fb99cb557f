"""Training, export and the shipped-model recipe (torch); a leaf only the CLI imports.

How it works: ``docs/TRAINING.md``; measurements and the experiment log:
``docs/TRAINING_EXPERIMENTS.md``.
"""
