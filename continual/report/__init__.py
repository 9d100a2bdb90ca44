"""Reports drawn from saved results only: reading runs (:mod:`.runs`), the comparison table
(:mod:`.tables`) and its text forms (:mod:`.render`), plots (:mod:`.plots`), the words for what a run's accuracy matrix holds (:mod:`.scores`), the end-of-run
summary (:mod:`.summary`), the listings of built-in streams and strategies (:mod:`.listings`), and :func:`.comparison.compare`, which writes them all."""
