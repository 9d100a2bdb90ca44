"""What a run measures: the metrics of the accuracy matrix (:mod:`.metrics`, the one home of
every formula), the predictions collected during evaluation (:mod:`.predictions`) and costs
(:mod:`.costs`)."""
