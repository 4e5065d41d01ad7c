"""The programme manager's page inside Airflow: a FastAPI app mounted at ``/statclock``.

The ``statclock_ui`` plugin (plugins/statclock_ui.py) registers :func:`app.create_app` with
Airflow's API server and adds a "Statutory clock" entry to the navigation. Modules, one job each:

- ``security``: who may read (any authenticated Airflow user allowed the plugins view) and who
  may write (a user allowed to trigger the statutory_clock DAG), and the CSRF check on writes.
- ``context``: the register session and the day the pages are "as of".
- ``pages``: the server-rendered HTML pages (portfolio, council, what-if).
- ``writes``: recording a fact from the council page (POST forms).
- ``api``: the read-only JSON API and the health checks.
- ``readiness``: what the authenticated health check reports (register, migrations, last runs).
- ``feeds``: the iCalendar feeds (authenticated by a per-feed secret token, not by Airflow).

Nothing here runs at import time beyond building routers: the register is opened per request.
"""
