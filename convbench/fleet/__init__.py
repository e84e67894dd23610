"""Benchmarking the same artifacts across a Ray cluster's machine types (`convbench fleet`), and
the cross-machine report that says which hardware to deploy on (`convbench fleet-report`).

    cluster.py   Ray imported (or the one line naming the extra), the address checked, the nodes
                 and their machine types (custom resources `machine-type:<NAME>` or the node label
                 `machine-type`)
    software.py  this process's SoftwareStamp; the comparison before any work
    shipping.py  the artifact set as sha256-checked bytes; a run folder as one archive, unpacked
                 complete or not at all
    remote.py    what runs on a node (Ray tasks): its stamp, and `convbench bench` in a fresh process
    driver.py    the fleet: check, ship, run one bench per machine type with its node reserved, bring
                 each run folder back, publish and store it, record the outcome (fleets/<time>/)
    compare.py   the cross-machine report's model: p50 per machine, ratios, roofs, cost, choices
    printer.py   its console output
    optimize.py  `optimize|run --ray`: the optimize stage's job list as Ray tasks (optimize_all's job
                 runner): cache hits decided here, inputs shipped, each job's cache folders brought
                 back and published whole, the node that built them recorded

Ray tasks return bytes; the driver alone writes files and the store (a lost node cannot
half-write anything here)."""
