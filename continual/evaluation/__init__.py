"""What a run measures: the metrics of the accuracy matrix (:mod:`.metrics`, the one home of
every formula), per-class scores of pooled predictions (:mod:`.per_class`), the predictions
collected during evaluation (:mod:`.predictions`) and costs (:mod:`.costs`)."""
