"""A pytest plugin for one test (tests/test_roofline.py), loaded into a bench child with
`-p low_roofs`: the run's roofs become one fp32 and one int8 probe at 1 Mop/s, far below what any
row achieves, the fault the roof check exists to catch (a roof that is not an upper bound)."""

from convbench.benchmarks.suite import BenchContext
from convbench.core.records import DeviceRoofs, RoofMeasurement, RunRoofs


def pytest_configure(config):
    def measure_roofs(self):
        return RunRoofs(at_start=[DeviceRoofs(device="cpu", name="too low", usable_cores=1, measurements=[
            RoofMeasurement(precision=p, method="1 Mop/s", threads=1, ops=10**6, seconds=1.0, runs=1)
            for p in ("fp32", "int8")])])

    BenchContext.measure_roofs = measure_roofs
