"""The thread policy: free cores from the load average, overridable by the person starting the process."""
from __future__ import annotations

import pytest

from midi_rae import threads


def test_a_quiet_machine_gets_every_core():
    assert threads.free_cores(load=0.1, cores=2) == 2


def test_a_core_kept_busy_by_another_process_is_left_alone():
    assert threads.free_cores(load=1.0, cores=2) == 1
    assert threads.free_cores(load=0.8, cores=4) == 3


def test_a_job_that_just_ended_does_not_hold_a_core_through_the_trailing_load_average():
    assert threads.free_cores(load=1.5, cores=2, busy=0.1) == 2
    assert threads.free_cores(load=0.2, cores=2, busy=1.0) == 2  # a moment's burst: the load average decides
    assert threads.free_cores(load=1.1, cores=2, busy=1.0) == 1


def test_busy_now_reads_a_share_of_the_machine():
    busy = threads.busy_now(0.05)
    assert busy is None or 0.0 <= busy <= threads.os.cpu_count()


def test_an_overloaded_machine_still_gets_one_thread():
    assert threads.free_cores(load=7.5, cores=2) == 1


def test_the_environment_variable_sets_the_count(monkeypatch):
    monkeypatch.setenv(threads.ENV, "3")
    assert threads.requested() == 3
    monkeypatch.setenv(threads.ENV, "zero")
    assert threads.requested() is None


def test_configure_sets_torch_once_and_an_explicit_count_wins(monkeypatch):
    import torch

    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", None)
    monkeypatch.setenv(threads.ENV, "1")
    try:
        assert threads.configure() == 1 and torch.get_num_threads() == 1
        monkeypatch.setenv(threads.ENV, "2")
        assert threads.configure() == 1  # decided once per process
        assert threads.configure(2) == 2 and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_configure_gives_numpys_blas_the_same_count(monkeypatch):
    import torch
    from threadpoolctl import threadpool_info, threadpool_limits

    blas = [d for d in threadpool_info() if d["user_api"] == "blas"]
    if not blas:
        pytest.skip("numpy here has no BLAS that threadpoolctl can see")
    before = torch.get_num_threads()
    monkeypatch.setattr(threads, "_chosen", None)
    try:
        threads.configure(1)
        assert {d["num_threads"] for d in threadpool_info() if d["user_api"] == "blas"} == {1}
    finally:
        torch.set_num_threads(before)
        threadpool_limits(limits=blas[0]["num_threads"], user_api="blas")
