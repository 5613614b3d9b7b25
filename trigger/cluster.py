"""A Dask client for work that fans out (event generation, design-space scans): a LocalCluster of
single-threaded worker processes on this machine, or an existing cluster by address."""

import contextlib
import logging

from trigger.errors import TriggerError


class Interrupted(TriggerError):
    """Ctrl-C during fanned-out work: what finished is kept, and a rerun resumes."""

    exit_code = 130


@contextlib.contextmanager
def dask_client(scheduler: str | None, workers: int, env: dict[str, str] | None = None):
    """`scheduler` ("tcp://host:port"): that cluster (its workers must import `trigger` and see the output
    directories); None: a LocalCluster of `workers` processes, with `env` set in each."""
    from dask.distributed import Client, LocalCluster

    if scheduler:
        try:
            client = Client(scheduler, timeout="10s")
        except (OSError, TimeoutError) as exc:
            raise TriggerError(f"cannot reach the Dask scheduler at {scheduler} ({exc}); check the address or drop --scheduler") from None
        with client:
            yield client
        return
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0",
                      silence_logs=logging.ERROR, env=env or {}) as cluster, Client(cluster) as client:
        yield client
