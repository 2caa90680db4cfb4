"""Which worker groups a cluster can hold (the check that stops `--workers 3` on 2 CPUs from hanging)."""

from cola_platform.training.feasibility import workers_that_fit


def node(cpu: float, gpu: float = 0.0, alive: bool = True) -> dict:
    return {"Alive": alive, "Resources": {"CPU": cpu, **({"GPU": gpu} if gpu else {})}}


def test_cpu_workers_count_whole_shares_per_node():
    assert workers_that_fit([node(2.0)], 0.99, 0.0) == 2
    assert workers_that_fit([node(2.0)], 1.0, 0.0) == 2
    assert workers_that_fit([node(1.5), node(1.5)], 0.99, 0.0) == 2  # half a CPU on each node is not a worker
    assert workers_that_fit([node(2.0), node(8.0, alive=False)], 0.99, 0.0) == 2


def test_gpu_workers_need_a_gpu_each_on_the_same_node_as_their_cpu():
    assert workers_that_fit([node(16.0, gpu=2.0)], 0.99, 1.0) == 2
    assert workers_that_fit([node(16.0), node(1.0, gpu=4.0)], 0.99, 1.0) == 1
    assert workers_that_fit([node(16.0)], 0.99, 1.0) == 0
