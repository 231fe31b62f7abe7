"""The lab: scripts that measure the course's GAN and write their results to ``results/`` (see docs/experiments.md).

Run a script from the repository root, e.g. ``python lab/time_to_fidelity.py --help``; the modules here are
also importable as ``lab.<name>`` (tests do so). Nothing in ``helpers`` imports the lab.
"""
