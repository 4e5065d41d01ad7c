-- The two databases of the statclock stack on one PostgreSQL server:
--   airflow    Airflow's metadata database, owned by the role `airflow`
--   statclock  the case register (the domain database), owned by the role `statclock`
-- The postgres image runs this once, on the first start with an empty data volume, as
-- POSTGRES_USER (see docker-compose.yml, which mounts this directory on
-- /docker-entrypoint-initdb.d). Passwords are read from the container's environment with psql's
-- \getenv (PostgreSQL 15 and later), so no secret is written in this file.
\set ON_ERROR_STOP on

\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv statclock_password STATCLOCK_DB_PASSWORD
\if :{?airflow_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_PASSWORD is not set in the postgres container'; END $$;
\endif
\if :{?statclock_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'STATCLOCK_DB_PASSWORD is not set in the postgres container'; END $$;
\endif

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8';

CREATE ROLE statclock LOGIN PASSWORD :'statclock_password';
CREATE DATABASE statclock OWNER statclock ENCODING 'UTF8';

-- Each role reaches its own database only (owners and superusers keep their access).
REVOKE CONNECT, TEMPORARY ON DATABASE airflow FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE statclock FROM PUBLIC;
