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


# ---------------------------------------------------------------- the dashboard follows the machine


def test_a_process_spinning_on_one_of_two_cores_counts_as_one_busy_core():
    a, b = (0.0, 0.0, 0.0, 0.0), (1.0, 100.0, 200.0, 0.0)  # 1 s: half of both cores' jiffies busy
    assert threads.others_busy(a, b, cores=2) == pytest.approx(1.0)


def test_this_processs_own_work_is_not_counted_as_another_process():
    a, b = (0.0, 0.0, 0.0, 0.0), (1.0, 100.0, 200.0, 1.0)  # the busy core was this process's own second
    assert threads.others_busy(a, b, cores=2) == pytest.approx(0.0)


class ScriptedCounters:
    """A stand-in for the CPUs: each read advances the clock and adds one other process's share of busy jiffies."""

    def __init__(self, others: float, cores: int = 2, step_s: float = 0.5):
        self.others, self.cores, self.step_s = others, cores, step_s
        self.t = self.busy = self.total = 0.0

    def __call__(self):
        self.t += self.step_s
        self.total += 100 * self.cores * self.step_s
        self.busy += 100 * self.others * self.step_s
        return self.t, self.busy, self.total, 0.0


def test_the_watch_says_nothing_before_it_has_seen_half_a_second():
    watch = threads.LoadWatch(read=ScriptedCounters(others=1.0, step_s=0.1), cores=2)
    watch.sample()
    assert watch.others() is None


def test_the_watch_reports_what_others_kept_busy_over_its_span():
    watch = threads.LoadWatch(read=ScriptedCounters(others=1.0), cores=2)
    for _ in range(10):
        watch.sample()
    assert watch.others() == pytest.approx(1.0)


@pytest.fixture
def torch_threads(monkeypatch):
    import torch

    before, chosen = torch.get_num_threads(), threads._chosen
    monkeypatch.delenv(threads.ENV, raising=False)
    yield torch
    torch.set_num_threads(before)
    threads._chosen = chosen
    threads.limit_blas(before)


def watching(monkeypatch, others: float, cores: int = 2) -> None:
    watch = threads.LoadWatch(read=ScriptedCounters(others=others, cores=cores), cores=cores)
    for _ in range(4):
        watch.sample()
    monkeypatch.setattr(threads, "_watch", watch)
    monkeypatch.setattr(threads, "available_cores", lambda: cores)


def test_the_page_leaves_one_core_to_the_browser_on_a_quiet_machine(monkeypatch, torch_threads):
    watching(monkeypatch, others=0.1, cores=4)
    assert threads.follow() == 3 and torch_threads.get_num_threads() == 3
    watching(monkeypatch, others=0.1, cores=2)
    assert threads.follow() == 1 and torch_threads.get_num_threads() == 1


def test_the_page_also_leaves_a_core_that_another_process_took_since_the_server_started(monkeypatch,
                                                                                        torch_threads):
    watching(monkeypatch, others=1.0, cores=4)
    assert threads.follow() == 2


def test_a_browser_drawing_part_of_the_time_does_not_take_a_core(monkeypatch, torch_threads):
    watching(monkeypatch, others=0.7, cores=4)
    assert threads.follow() == 3


def test_a_build_in_the_page_takes_every_free_core_and_gives_one_back_to_another_process(monkeypatch,
                                                                                         torch_threads):
    torch_threads.set_num_threads(1)
    watching(monkeypatch, others=0.1)
    assert threads.follow(interactive=False) == 2 and torch_threads.get_num_threads() == 2
    watching(monkeypatch, others=1.0)
    assert threads.follow(interactive=False) == 1 and torch_threads.get_num_threads() == 1


def test_follow_keeps_the_count_set_by_whoever_started_the_server(monkeypatch, torch_threads):
    watching(monkeypatch, others=1.0)
    monkeypatch.setenv(threads.ENV, "2")
    assert threads.follow() == 2 and torch_threads.get_num_threads() == 2


def test_the_real_counters_see_a_process_spinning_beside_this_one():
    import subprocess
    import sys
    import time

    if threads.snapshot() is None:
        pytest.skip("no /proc/stat here")
    spin = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.5)
        a = threads.snapshot()
        time.sleep(1.0)
        b = threads.snapshot()
    finally:
        spin.kill()
        spin.wait()
    assert threads.others_busy(a, b, threads.available_cores()) >= 0.6
