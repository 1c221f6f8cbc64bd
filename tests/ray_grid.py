"""Train and attack the tests' tiny grid on a two-node Ray cluster on 127.0.0.1 (run by tests/test_ray.py).

    python tests/ray_grid.py ROOT      # writes ROOT/models, ROOT/attacks.csv

Run it in a network namespace with loopback only: Ray binds to the machine's network interface even when
told 127.0.0.1, and the tests must not open ports on a real network.
"""

import os
import sys
from pathlib import Path

from ray.cluster_utils import Cluster

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_ray import ENGINE, attack_and_write, tiny_study  # noqa: E402  (the same grid as the local run)

if __name__ == "__main__":
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
    cluster.add_node(num_cpus=1)
    os.environ["RAY_ADDRESS"] = cluster.address
    try:
        attack_and_write(tiny_study(), {**ENGINE, "executor": "ray"}, Path(sys.argv[1]))
    finally:
        import ray

        ray.shutdown()
        cluster.shutdown()
