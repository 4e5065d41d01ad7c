# statclock on the official Airflow image: the project's pinned requirements, the engine and
# Airflow glue packages (statutory_clock, statclock_airflow), the DAGs and the plugin.
# Layers run from least to most often changed, so editing a DAG rebuilds only the last layer.
# Used by docker-compose.yml; see docs/deployment.md.
# The programme manager's page's styles: GOV.UK Frontend from npm (pinned by ui/package-lock.json),
# bundled by the same script as setup-venv.sh runs; only the built CSS reaches the image.
FROM node:22-bookworm-slim AS govuk
WORKDIR /src
COPY ui/package.json ui/package-lock.json ui/
COPY scripts/build-static.sh scripts/
RUN scripts/build-static.sh

FROM apache/airflow:3.3.2-python3.11

# WeasyPrint (board pack PDFs) needs Pango at run time, and the pack's stylesheet asks for
# DejaVu Sans.
USER root
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-dejavu-core \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/*
USER airflow

# Third-party requirements: rebuilt only when the pins change.
COPY --chown=airflow:root requirements.txt constraints.txt /opt/statclock/
RUN pip install --no-cache-dir -r /opt/statclock/requirements.txt -c /opt/statclock/constraints.txt

# The project itself, installed as a regular (non-editable) package. README.md is needed
# because pyproject.toml names it as the package's readme.
COPY --chown=airflow:root pyproject.toml README.md /opt/statclock/
COPY --chown=airflow:root include/ /opt/statclock/include/
COPY --from=govuk --chown=airflow:root /src/include/statclock_airflow/ui/static/govuk/ /opt/statclock/include/statclock_airflow/ui/static/govuk/
RUN pip install --no-cache-dir --no-deps /opt/statclock

# The demo councils' case files, for `statclock demo load` (STATCLOCK_DEMO_DIR says where).
ENV STATCLOCK_DEMO_DIR=/opt/statclock/include/demo

# Board packs and the last good bank holiday feed live here; docker-compose.yml mounts a named
# volume on it (created here so that the volume belongs to the airflow user).
RUN mkdir -p "${AIRFLOW_HOME}/var/packs"

COPY --chown=airflow:root dags/ ${AIRFLOW_HOME}/dags/
COPY --chown=airflow:root plugins/ ${AIRFLOW_HOME}/plugins/
