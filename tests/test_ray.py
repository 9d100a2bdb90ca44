"""Many runs on Ray (``--jobs``, ``--ray-address``): the same results as one after another, a bad
run stops the dispatch, signals stop every task at a resumable point, a node lost mid-run is
retried and resumes, ``--out`` must be shared, and no Ray process outlives a test."""
import json
import signal

import psutil
import pytest
import torch

from continual import UserError
from continual.engine.executor import ExecutorOptions, cpus_for
from continual.run import main
from conftest import TEST_SESSION_MARK, write_notes
from test_resume import cli_argv, poll_until, run_dir_of, start, wait_for, without_timing


def ray_processes() -> list:
    """Ray's own processes (raylet, GCS, workers) that this test session started: they carry its
    mark in their environment, where other Ray programs' processes on the machine do not."""
    name, value = TEST_SESSION_MARK
    found = []
    for process in psutil.process_iter(["name", "cmdline"]):
        command = " ".join(process.info["cmdline"] or [])
        if not any(part in command for part in ("raylet", "gcs_server", "default_worker.py", "ray::")):
            continue
        try:
            if process.environ().get(name) == value:
                found.append(process)
        except (psutil.AccessDenied, psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    return found


def test_the_count_of_ray_processes_sees_this_sessions_own():
    """The leak check is not blind: a Ray started here shows up in it, and is gone after shutdown."""
    import ray

    before = {p.pid for p in ray_processes()}
    ray.init(num_cpus=1, include_dashboard=False, object_store_memory=80 * 2**20)
    try:
        assert [p for p in ray_processes() if p.pid not in before]
    finally:
        ray.shutdown()
    poll_until(lambda: not [p for p in ray_processes() if p.pid not in before and p.is_running()],
               timeout=30.0, what="the Ray processes of this test to end")


@pytest.fixture
def no_ray_left():
    before = {p.pid for p in ray_processes()}
    yield
    poll_until(lambda: not [p for p in ray_processes() if p.pid not in before and p.is_running()],
               timeout=30.0, what="the Ray processes this test started to end")


def local_cluster(nodes: int, cpus: int = 1):
    """A Ray cluster of ``nodes`` worker nodes on this machine (a head without CPUs: tasks run on
    the worker nodes only), standing in for a cluster of machines."""
    from ray.cluster_utils import Cluster

    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 0, "include_dashboard": False,
                                                             "object_store_memory": 80 * 2**20})
    for _ in range(nodes):
        cluster.add_node(num_cpus=cpus, object_store_memory=80 * 2**20)
    cluster.wait_for_nodes()
    return cluster


@pytest.fixture
def threads_kept():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_executor_flags_are_checked_in_one_line(tmp_path, tiny_model_dir, capsys):
    argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "naive,ewc",
            "--out", str(tmp_path / "out")]
    for flags, message in ((["--jobs", "0"], "error: --jobs must be at least 1, got 0"),
                           (["--cpus-per-run", "0"], "error: --cpus-per-run must be positive, got 0"),
                           (["--jobs", "2", "--ray-address", "auto"], "error: --jobs starts a local Ray instance")):
        assert main([*argv, *flags]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith(message) and len(err.splitlines()) == 1
    assert not (tmp_path / "out").exists()
    with pytest.raises(UserError, match="--max-retries"):
        ExecutorOptions(max_retries=-1)
    assert cpus_for(ExecutorOptions(jobs=2, cpus_per_run=1.5), 2) == 1.5


def test_a_grid_on_ray_gives_the_results_of_the_same_runs_one_after_another(tmp_path, tiny_model_dir, capsys,
                                                                            threads_kept, no_ray_left):
    """A 2 x 2 grid (strategies x seeds) as Ray tasks with --jobs 2 --cpus-per-run 1: every
    metrics.json equals the one of the same run made one after another with --cpus-per-run 1,
    the summary lists the runs in the order asked, config.json records one thread."""
    argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "naive,ewc", "--seed", "0,1",
            "--cpus-per-run", "1"]
    assert main([*argv, "--jobs", "2", "--out", str(tmp_path / "ray")]) == 0
    out, err = capsys.readouterr()
    assert "4 runs on Ray, 2 at a time, 1 CPU(s) each" in err and "[4 done, 0 running, 0 queued, 0 failed]" in err
    assert err.count("   wrote ") == 4 and "Traceback" not in err
    assert [line.split()[:2] for line in out.strip().splitlines()[2:]] == [["naive", "0"], ["naive", "1"],
                                                                          ["ewc", "0"], ["ewc", "1"]]
    assert main([*argv, "--out", str(tmp_path / "sequential")]) == 0
    for name in ("naive", "ewc"):
        for seed in (0, 1):
            ray_run, sequential = (tmp_path / kind / "notes-class" / name / f"seed-{seed}" for kind in ("ray", "sequential"))
            got, expected = (json.loads((d / "metrics.json").read_text()) for d in (ray_run, sequential))
            assert without_timing(got) == without_timing(expected), (name, seed)
            assert json.loads((ray_run / "config.json").read_text())["torch_threads"] == 1
    # the results folder holds runs only: Ray's logs are elsewhere
    assert sorted(p.name for p in (tmp_path / "ray").iterdir()) == ["notes-class"]
    # the grid again: every run is found finished and skipped
    capsys.readouterr()
    assert main([*argv, "--jobs", "2", "--out", str(tmp_path / "ray")]) == 0
    assert "wrote" not in capsys.readouterr().err


def test_a_bad_run_stops_the_dispatch_exits_2_and_keeps_finished_runs(tmp_path, tiny_model_dir, capsys, no_ray_left):
    """prompt-tuning's 20 virtual tokens do not fit the tiny encoder's 128 positions beside
    120-token texts: its task answers with the error when it builds (not retried); naive,
    dispatched beside it, finishes and is written; ewc, not yet dispatched, never starts."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--max-length") + 1] = "120"
    # naive slowed down (4 epochs of batches of 2): it is still going when prompt-tuning's error
    # arrives, so no slot frees before it and ewc is never dispatched
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"
    argv += ["--strategy", "prompt-tuning,naive,ewc", "--jobs", "2", "--cpus-per-run", "1", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.strip().splitlines()[-1].startswith("error: --strategy prompt-tuning: --max-length 120 plus")
    assert "Traceback" not in err
    assert (run_dir_of(tmp_path / "out", "naive") / "metrics.json").exists()
    assert not run_dir_of(tmp_path / "out", "ewc").exists()
    assert [line.split()[0] for line in out.strip().splitlines()[2:]] == ["naive"]


def test_an_out_folder_the_nodes_do_not_share_is_refused(tmp_path, tiny_model_dir, capsys, monkeypatch, no_ray_left):
    """On a cluster the first task must find the driver's marker in --out; here the marker is
    made to vanish, as on a node that mounts another folder."""
    from continual.engine import executor, ray_tasks

    real = executor.write_marker

    def vanishing(out):
        marker = real(out)
        marker.unlink()
        return marker

    monkeypatch.setattr(ray_tasks, "write_marker", vanishing)
    cluster = local_cluster(nodes=1)
    try:
        argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "naive,ewc",
                "--ray-address", cluster.address, "--cpus-per-run", "1", "--out", str(tmp_path / "out")]
        assert main(argv) == 2
    finally:
        cluster.shutdown()
    err = capsys.readouterr().err.strip()
    assert "is not shared with this Ray node" in err.splitlines()[-1] and "Traceback" not in err
    assert not list((tmp_path / "out").glob(".continual-shared-*"))  # the driver's marker is cleaned up


def test_sigterm_stops_every_task_and_resume_finishes_the_grid(tmp_path, tiny_model_dir, no_ray_left):
    """A SIGTERM to the driver cancels the tasks still running: each keeps its finished
    experiences in its checkpoint, nothing of Ray is left running, and the same command with
    --resume ends with the metrics of an uninterrupted run. The signal goes out as soon as one
    run has checkpointed its first experience, so that run has two experiences left and is
    certainly cut; the other may not have started on a loaded machine, or may be further on a
    fast one, so only its resumed metrics are checked."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"  # slow enough for the signal to land mid-run
    argv += ["--strategy", "replay,naive", "--cpus-per-run", "1"]
    out = tmp_path / "stopped"
    process = start([*argv, "--jobs", "2", "--out", str(out)])
    runs = [run_dir_of(out, name) for name in ("replay", "naive")]
    wait_for(lambda: any((run / "checkpoint" / "state.pt").exists() for run in runs), process, timeout=300)
    first = next(run for run in runs if (run / "checkpoint" / "state.pt").exists())
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=300)
    assert process.returncode == 143, err[-2000:]
    assert err.strip().splitlines()[-1].startswith("interrupted: resume with: python -m continual.run")
    assert "Traceback" not in err
    assert not (first / "metrics.json").exists()
    assert (first / "checkpoint" / "state.pt").exists()
    assert main([*argv, "--jobs", "2", "--out", str(out), "--resume"]) == 0
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    for name in ("replay", "naive"):
        got, expected = (json.loads((run_dir_of(folder, name) / "metrics.json").read_text())
                         for folder in (out, tmp_path / "whole"))
        assert without_timing(got) == without_timing(expected), name


def _node_running(cluster, pid: int):
    """The worker node of ``cluster`` whose raylet has process ``pid`` among its descendants."""
    for node in cluster.worker_nodes:
        raylet = psutil.Process(node.all_processes["raylet"][0].process.pid)
        if pid in {child.pid for child in raylet.children(recursive=True)}:
            return node
    return None


def test_a_node_lost_mid_run_is_retried_and_resumes_to_the_same_numbers(tmp_path, tiny_model_dir, threads_kept,
                                                                        no_ray_left):
    """Two one-CPU nodes run replay and naive; once replay has checkpointed its first experience,
    the node running it is removed (as a machine lost): Ray retries the task on the other node,
    it resumes from the checkpoint, and both runs end with the metrics of runs made one after
    another at one thread."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"
    argv += ["--strategy", "replay,naive", "--cpus-per-run", "1"]
    cluster = local_cluster(nodes=2)
    try:
        out = tmp_path / "cluster"
        process = start([*argv, "--ray-address", cluster.address, "--out", str(out)])
        replay = run_dir_of(out, "replay")
        wait_for(lambda: (replay / "checkpoint" / "state.pt").exists() and (replay / ".lock").exists(), process,
                 timeout=300)
        node = _node_running(cluster, int((replay / ".lock").read_text().strip()))
        assert node is not None
        cluster.remove_node(node)
        _, err = process.communicate(timeout=600)
        assert process.returncode == 0, err[-3000:]
    finally:
        cluster.shutdown()
    facts = json.loads((replay / "config.json").read_text())["resume"]
    assert facts["resumed"] and facts["resumes"][0]["from_experience"] >= 1  # the retry resumed
    torch.set_num_threads(1)
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    for name in ("replay", "naive"):
        got, expected = (json.loads((run_dir_of(folder, name) / "metrics.json").read_text())
                         for folder in (out, tmp_path / "whole"))
        assert without_timing(got) == without_timing(expected), name


def test_a_worker_killed_for_good_is_reported_in_one_line_with_exit_1(tmp_path, tiny_model_dir, no_ray_left):
    """With --max-retries 0, a task whose worker is killed from outside (as the OOM killer would)
    is not retried: the command ends with exit 1 and one line naming the run and --resume."""
    argv = cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir)
    argv[argv.index("--epochs") + 1] = "4"
    argv[argv.index("--batch-size") + 1] = "2"
    argv += ["--strategy", "replay,naive", "--jobs", "2", "--cpus-per-run", "1", "--max-retries", "0",
             "--out", str(tmp_path / "out")]
    process = start(argv)
    replay = run_dir_of(tmp_path / "out", "replay")
    wait_for(lambda: (replay / "checkpoint" / "state.pt").exists() and (replay / ".lock").exists(), process,
             timeout=300)
    psutil.Process(int((replay / ".lock").read_text().strip())).kill()
    _, err = process.communicate(timeout=300)
    assert process.returncode == 1, err[-2000:]
    last = err.strip().splitlines()[-1]
    assert last.startswith("the run replay on notes-class, seed 0 failed on Ray") and "--resume" in last
    assert "Traceback" not in err
    assert (run_dir_of(tmp_path / "out", "naive") / "metrics.json").exists()  # the other run finished


def test_ray_overhead_is_measured_and_the_comparison_commands_are_the_default_ones(no_ray_left):
    from continual.speed.ray_timing import COMPARISON, comparison_command, format_ray, ray_overhead

    overhead = ray_overhead()
    assert overhead["startup_seconds"] > 0 and 0 < overhead["task_overhead_seconds"] <= overhead["task_overhead_max_seconds"]
    assert COMPARISON == ["naive", "ewc", "online-ewc", "si", "replay", "der", "lwf", "expanding-heads"]
    sequential, on_ray = comparison_command("/o", False), comparison_command("/o", True)
    assert sequential[1:5] == ["-m", "continual.run", "--strategy", ",".join(COMPARISON)]
    assert on_ray[-4:] == ["--jobs", "2", "--cpus-per-run", "1"] and "--jobs" not in sequential
    lines = format_ray({"ray": {"overhead": overhead, "comparison": {"one_after_another": 900.0, "jobs_2": 600.0,
                                                                      "speedup": 1.5}}})
    assert any("speed-up 1.50" in line for line in lines)


def test_cpus_per_run_one_after_another_leaves_the_callers_thread_count(tmp_path, tiny_model_dir, threads_kept):
    torch.set_num_threads(2)
    argv = [*cli_argv(write_notes(tmp_path / "notes.csv"), tiny_model_dir), "--strategy", "naive", "--cpus-per-run", "1",
            "--out", str(tmp_path / "out")]
    assert main(argv) == 0
    assert json.loads((run_dir_of(tmp_path / "out", "naive") / "config.json").read_text())["torch_threads"] == 1
    assert torch.get_num_threads() == 2
