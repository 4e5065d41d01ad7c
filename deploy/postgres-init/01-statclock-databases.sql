-- The two databases of the statclock stack on one PostgreSQL server:
--   airflow    Airflow's metadata database, owned by the role `airflow`
--   statclock  the case register (the domain database), owned by the role `statclock_owner`,
--              which runs its migrations (airflow-init); the product connects as the role
--              `statclock`, which owns nothing and is granted what it needs after each
--              migration: on the audit trail only INSERT and SELECT, so it can neither rewrite
--              nor truncate the trail, nor drop the triggers that guard it.
-- The postgres image runs this once, on the first start with an empty data volume, as
-- POSTGRES_USER (see docker-compose.yml, which mounts this directory on
-- /docker-entrypoint-initdb.d). Passwords are read from the container's environment with psql's
-- \getenv (PostgreSQL 15 and later), so no secret is written in this file.
\set ON_ERROR_STOP on

\getenv airflow_password AIRFLOW_DB_PASSWORD
\getenv statclock_password STATCLOCK_DB_PASSWORD
\getenv statclock_owner_password STATCLOCK_OWNER_DB_PASSWORD
\if :{?airflow_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'AIRFLOW_DB_PASSWORD is not set in the postgres container'; END $$;
\endif
\if :{?statclock_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'STATCLOCK_DB_PASSWORD is not set in the postgres container'; END $$;
\endif
\if :{?statclock_owner_password}
\else
  DO $$ BEGIN RAISE EXCEPTION 'STATCLOCK_OWNER_DB_PASSWORD is not set in the postgres container'; END $$;
\endif

CREATE ROLE airflow LOGIN PASSWORD :'airflow_password';
CREATE DATABASE airflow OWNER airflow ENCODING 'UTF8';

CREATE ROLE statclock_owner LOGIN PASSWORD :'statclock_owner_password';
CREATE ROLE statclock LOGIN PASSWORD :'statclock_password';
CREATE DATABASE statclock OWNER statclock_owner ENCODING 'UTF8';

-- Each role reaches its own database only (owners and superusers keep their access).
REVOKE CONNECT, TEMPORARY ON DATABASE airflow FROM PUBLIC;
REVOKE CONNECT, TEMPORARY ON DATABASE statclock FROM PUBLIC;
GRANT CONNECT ON DATABASE statclock TO statclock;
-- PostgreSQL 15+: only the database owner may create in the public schema; make that explicit.
\connect statclock
ALTER SCHEMA public OWNER TO statclock_owner;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
