"""Runs: assemble one from its configuration (:mod:`.assemble`), the loop over experiences
(:mod:`.loop`), the Avalanche template (:mod:`.template`), the benchmark built from a tokenized
stream (:mod:`.benchmark`), experiment loggers (:mod:`.loggers`), what is checked before any run
starts (:mod:`.launch`), and the executor of many runs (:mod:`.executor`, on Ray: :mod:`.ray_tasks`). Importing this package
is cheap; its modules import torch and Avalanche."""
