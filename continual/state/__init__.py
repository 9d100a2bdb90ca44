"""What a run keeps on disk: files written atomically (:mod:`.files`), the run folder, its lock
and results files (:mod:`.run_folder`), the results contract a finished folder must meet
(:mod:`.contract`), stop signals (:mod:`.signals`), and checkpoints (:mod:`.checkpoint`, with
model, optimizer and random state in :mod:`.module_state` and the state of Avalanche's own
plugins in :mod:`.plugin_state`)."""
