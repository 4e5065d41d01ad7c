"""Airflow plugin: the programme manager's page ("Statutory clock" in Airflow's navigation).

The app itself lives in ``statclock_airflow.ui`` (an installed package); this file only tells
Airflow's API server to mount it at ``/statclock`` and where the navigation entry points.
"""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin

from statclock_airflow.ui.app import URL_PREFIX, create_app


class StatclockUiPlugin(AirflowPlugin):
    name = "statclock_ui"
    # Class-level lists because that is how AirflowPlugin declares its extension points.
    fastapi_apps = [  # noqa: RUF012
        {"app": create_app(), "url_prefix": URL_PREFIX, "name": "Statutory clock"}
    ]
    external_views = [  # noqa: RUF012
        {
            "name": "Statutory clock",
            "href": f"{URL_PREFIX}/",
            "destination": "nav",
            "url_route": "statclock",
        }
    ]
