"""Airflow's ``core.hostname_callable`` for the native topology.

In docker-compose.yml every service is its own container with its own hostname, so a task
instance's ``hostname`` says which container ran it. Natively every process shares this
machine's name; each process of the topology is given ``STATCLOCK_TOPOLOGY_HOSTNAME`` (its
service's name, e.g. ``airflow-worker-1``) and this callable returns it, so the task instances
recorded by the scheduler's own executor or by each Celery worker say who ran them, as they
would under compose.
"""

from __future__ import annotations

import os
import socket


def service_hostname() -> str:
    return os.environ.get("STATCLOCK_TOPOLOGY_HOSTNAME") or socket.getfqdn()
