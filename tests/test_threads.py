"""dreamer.threads: torch gets the cores this process may use, shared between the dreams running
at once and the worker processes on the machine. Thread settings are process-wide state, so
the checks that change them run in a child process."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from dreamer import threads
from tests.conftest import ROOT


def child(code: str, env: dict[str, str] | None = None) -> dict:
    run = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True,
                         text=True, timeout=300, env={**os.environ, **(env or {})})
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_share_of_the_cores():
    assert threads.thread_share(1, 1, cores=8) == 8
    assert threads.thread_share(2, 1, cores=8) == 4  # two dreams in one process
    assert threads.thread_share(1, 4, cores=8) == 2  # four worker processes on the machine
    assert threads.thread_share(3, 4, cores=8) == 1  # never below one
    assert threads.parse_cpu_max("max 100000\n") is None
    assert threads.parse_cpu_max("150000 100000\n") == 1.5
    assert threads.parse_cpu_max("nonsense") is None


def test_cgroup_quota_caps_the_cores(tmp_path, monkeypatch):
    (tmp_path / "cpu.max").write_text("100000 100000\n")
    assert threads.cgroup_cpu_quota(tmp_path) == 1.0
    monkeypatch.setattr(threads, "cgroup_cpu_quota", lambda: 1.0)
    assert threads.usable_cores() == 1


def test_workers_from_the_environment(monkeypatch):
    monkeypatch.setenv(threads.ENV_WORKERS, "3")
    assert threads.workers() == 3
    monkeypatch.setenv(threads.ENV_WORKERS, "many")
    assert threads.workers() == 1  # a typo must not stop the bot


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs to restrict to one")
def test_a_dream_uses_the_cores_its_process_may_use():
    got = child("""
        import json, os, torch
        from dreamer import threads
        from dreamer.recipe import Recipe
        from dreamer.render import dream_tensor
        from models import create_model
        seen = []
        net = create_model("tiny")
        net.module.register_forward_pre_hook(lambda *_: seen.append(torch.get_num_threads()))
        recipe = Recipe.from_flat(classes={"1": 1.0}, steps=2, seed=0)
        x = torch.rand(1, 3, 64, 64)
        dream_tensor(x, recipe, net, 0)
        first = list(seen)
        seen.clear()
        allowed = len(os.sched_getaffinity(0))
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})   # as taskset -c 0 would
        dream_tensor(x, recipe, net, 0)
        print(json.dumps({"allowed": allowed, "first": first, "second": seen}))
    """, env={threads.ENV_WORKERS: "1"})
    allowed = min(got["allowed"], threads.usable_cores())
    # each step's views go through the net a few at a time on a CPU: several calls a step
    assert got["first"] and set(got["first"]) == {allowed}
    assert got["second"] and set(got["second"]) == {1}


def test_dreams_at_once_share_the_cores_and_take_them_back():
    got = child("""
        import json, threading, torch
        from dreamer import threads
        threads.usable_cores = lambda: 8   # as on an 8-core machine
        out, both_in, b_done = {}, threading.Barrier(2), threading.Event()

        def dream(name):
            with threads.dreaming() as start:
                out[name + "_start"] = start
                both_in.wait()
                out[name + "_both"] = threads.rebalance()
                out[name + "_torch"] = torch.get_num_threads()
                both_in.wait()
                if name == "a":
                    b_done.wait(60)
                    out["a_alone"] = threads.rebalance()
            if name == "b":
                b_done.set()

        ts = [threading.Thread(target=dream, args=(n,)) for n in "ab"]
        for t in ts: t.start()
        for t in ts: t.join()
        with threads.dreaming() as alone:
            out["main"] = alone
        print(json.dumps(out))
    """, env={threads.ENV_WORKERS: "2"})
    # Two worker processes on 8 cores: 4 each; two dreams in this one: 2 each, then 4 again.
    assert got["a_both"] == got["b_both"] == got["a_torch"] == got["b_torch"] == 2
    assert got["a_alone"] == 4 and got["main"] == 4
    assert {got["a_start"], got["b_start"]} <= {2, 4}
