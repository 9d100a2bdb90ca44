"""What a run keeps on disk: files written atomically (:mod:`.files`), the run folder, its lock
and results files (:mod:`.run_folder`), stop signals (:mod:`.signals`) and checkpoints
(:mod:`.checkpoint`)."""
