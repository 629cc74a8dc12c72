import pytest

from rsimeter.errors import RsimeterError
from rsimeter.parallel import parallel_map


def _square(x: int) -> int:
    return x * x


def test_local_processes_keep_input_order():
    assert list(parallel_map(_square, range(7), workers=2)) == [x * x for x in range(7)]


def test_serial_path_runs_in_process():
    assert list(parallel_map(lambda x: x + 1, [1, 2])) == [2, 3]


@pytest.mark.slow
def test_local_dask_cluster_gives_the_serial_result():
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as c:
        got = list(parallel_map(_square, range(10), dask_address=c.scheduler_address))
    assert got == [x * x for x in range(10)]


def test_unreachable_scheduler_is_a_clear_error():
    with pytest.raises(RsimeterError, match="cannot reach the Dask scheduler"):
        list(parallel_map(_square, [1], dask_address="tcp://127.0.0.1:9"))
