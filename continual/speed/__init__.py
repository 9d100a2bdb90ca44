"""How fast are training and evaluation, against what baseline: the library behind
``python -m continual.bench``.

Measured in one process, on the same model and the same ICD-10-CM texts, after a warm-up, as
medians of repeated timings; (a), (b), (c) and (e) on one experience holding the whole sample,
so that the three training loops see the same texts in the same length buckets:

(a) ``pad128``: a plain PyTorch loop that pads every text to 128 tokens (the classic BERT
    fine-tuning tutorial);
(b) ``plain``: a plain PyTorch loop with the suite's batching (length buckets drawn afresh each
    epoch, each batch cut to its longest text), timed per epoch after the first, as (c);
    (a) and (b) use the suite's optimizer (fused AdamW), so the three loops differ only in
    batching and in the loop around the step (:mod:`.loops`);
(c) ``suite``: the suite's own training path (``run_experiment`` with ``naive``, through
    Avalanche's template), timed per epoch after the first (:mod:`.suite`);
(d) the per-experience training cost of each strategy relative to naive as experiences accrue
    (naive runs interleaved with the strategies, two at a time: a strategy's baseline is the
    median of the three naive runs nearest it in time, so that drift cancels and one transient
    naive run does not move it; the naive runs' spread is the machine's run-to-run noise,
    against which a flatness target can be read);
(e) evaluation throughput of the suite's evaluation loop (median of ``eval_repeats`` evaluations
    of the sample's test set by the model (c) trained, the run's own evaluation the first);
(f) the machine's dense matmul peak (fp32 and bf16; best timing, measured at the start and the
    end) and the model's useful FLOPs per example (6 x non-embedding encoder parameters x real
    tokens), giving utilization as a ratio (:mod:`.timing`);
(g) the peak resident memory of a default run (``python -m continual.run`` with its defaults: the
    main job, ``ewc``), run in a process of its own after every timing above, into a temporary
    folder (full benchmark only; :mod:`.default_run`).

:func:`.measure.run_bench` returns what ``bench.json`` holds; :func:`.table.format_table` renders
it against the targets. No timing is asserted anywhere: the numbers are measurements to read,
compare and paste (docs/benchmarks.md keeps the measured ones, with command, date and machine).

The package is not called ``benchmark``: in this code base (``continual/engine/benchmark.py``)
and in Avalanche that word means a stream of experiences, the data a run learns from.
"""
