"""Reports drawn from saved results only: plots (:mod:`.plots`)."""
