#!/usr/bin/env bash
# Restore a backup made by scripts/backup-register.sh into a fresh, empty register database and
# a fresh pack archive folder.
#
#   scripts/restore-register.sh BACKUP_FOLDER
#
# The database: STATCLOCK_DATABASE_OWNER_URL, else STATCLOCK_DATABASE_URL (SQLAlchemy URL of
# an existing, empty database, as the role that is to own the register: create it first, e.g.
# `createdb -O statclock_owner statclock`). The archive: STATCLOCK_PACKS_DIR (default
# var/packs), which must be absent or empty.
#
# In order, stopping at the first problem with one line: every file is checked against
# MANIFEST.sha256; the database must hold no table (refused, exit 2, otherwise) and the archive
# folder no file; the archive is unpacked beside its destination and checked again; the dump
# is restored in one transaction (pg_restore --single-transaction: all of it or nothing),
# owned by the connecting role, without the source's grants (--no-owner --no-privileges: the
# application role may be named differently here); then every board pack the register records
# must be in the archive with the SHA-256 the register recorded; only then is the archive moved
# into place. Afterwards run `statclock db upgrade` with STATCLOCK_DATABASE_OWNER_URL and
# STATCLOCK_DATABASE_URL set (in the compose stack: `docker compose run --rm airflow-init`): it
# grants the application's role its privileges, and `statclock audit verify` checks the trail.
#
# The register records each pack by its absolute path, so restore the archive to the folder
# it was backed up from (backup.info, packs_dir; in the compose stack the statclock-var volume
# is always mounted at the same place). Exit 0 done, 1 failed, 2 refused.
set -euo pipefail

refuse() { echo "restore-register: $*" >&2; exit 2; }
fail() { echo "restore-register: $*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" && "$1" != -* ]] || refuse "usage: scripts/restore-register.sh BACKUP_FOLDER"
backup=$1
url=${STATCLOCK_DATABASE_OWNER_URL:-${STATCLOCK_DATABASE_URL:-}}
[[ -n "$url" ]] || refuse "STATCLOCK_DATABASE_OWNER_URL (or STATCLOCK_DATABASE_URL) is not set: name the empty database to restore into"
re='^postgres(ql)?(\+[A-Za-z0-9_]+)?://([^:@/]*)(:([^@]*))?@(.+)$'
[[ "$url" =~ $re ]] || refuse "database URL: not a PostgreSQL URL (postgresql+psycopg://user:password@host/db)"
export PGPASSWORD=${BASH_REMATCH[5]}
libpq="postgresql://${BASH_REMATCH[3]}@${BASH_REMATCH[6]}"
where=${BASH_REMATCH[6]%%\?*}
packs=${STATCLOCK_PACKS_DIR:-var/packs}
[[ -f "$backup/MANIFEST.sha256" && -f "$backup/register.dump" && -f "$backup/packs.tar" && -f "$backup/backup.info" ]] ||
  refuse "$backup: not a backup folder (MANIFEST.sha256, register.dump, packs.tar, backup.info)"

# 1. The backup is whole: the dump, the tar and backup.info (the archive's files are checked
# once unpacked).
# The first file that does not match, as sha256sum -c names it ("register.dump: FAILED").
first_bad() { sha256sum -c "$1" 2>/dev/null | grep -v ': OK$' | head -n 1 | sed 's/: .*//' || true; }
(cd "$backup" && grep -E '  (register\.dump|packs\.tar|backup\.info)$' MANIFEST.sha256) >"$backup/.check.$$" || true
bad=$(cd "$backup" && first_bad ".check.$$"); rm -f "$backup/.check.$$"
[[ -z "$bad" ]] || refuse "$backup: $bad does not match MANIFEST.sha256 (a damaged or altered backup)"

# 2. The destination is fresh.
q() { psql --no-psqlrc -X -qAt -v ON_ERROR_STOP=1 -d "$libpq" -c "$1"; }
tables=$(q "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'S')" 2>/dev/null) ||
  fail "the database at $where cannot be reached (create it first, and check the password)"
[[ "$tables" == 0 ]] ||
  refuse "$where is not empty ($tables tables or sequences in schema public): restore into a fresh, empty database"
if [[ -e "$packs" ]]; then
  [[ -d "$packs" ]] || refuse "STATCLOCK_PACKS_DIR: $packs is not a folder"
  [[ -z "$(find "$packs" -mindepth 1 -print -quit)" ]] ||
    refuse "STATCLOCK_PACKS_DIR: $packs is not empty: restore the archive into a fresh folder"
fi

# 3. The archive, unpacked beside its destination and checked file by file.
mkdir -p "$(dirname "$packs")"
staging=$(mktemp -d "$(dirname "$packs")/.restore-packs.XXXXXX")
trap 'rm -rf "$staging"' EXIT
mkdir "$staging/packs"
tar -C "$staging/packs" -xf "$backup/packs.tar" || fail "$backup/packs.tar cannot be unpacked"
(grep -E '  packs/' "$backup/MANIFEST.sha256" || true) >"$staging/packs.sha256"
bad=$(cd "$staging" && first_bad packs.sha256)
[[ -z "$bad" ]] || refuse "$backup: archive file $bad does not match MANIFEST.sha256 (a damaged or altered backup)"
listed=$(wc -l <"$staging/packs.sha256")
found=$(find "$staging/packs" -type f | wc -l)
[[ "$listed" == "$found" ]] || refuse "$backup: packs.tar holds $found files, MANIFEST.sha256 lists $listed"

# 4. The register, all or nothing.
pg_restore --single-transaction --exit-on-error --no-owner --no-privileges --no-password \
  -d "$libpq" "$backup/register.dump" || fail "pg_restore failed (its message is above); the database is unchanged"

# 5. Every pack the register records is in the archive, with the checksum the register recorded.
source_packs=$(sed -n 's/^packs_dir=//p' "$backup/backup.info")
bad=0
while IFS='|' read -r pdf sha; do
  [[ -n "$pdf" ]] || continue
  rel=${pdf#"$source_packs"/}
  have=$(sha256sum "$staging/packs/$rel" 2>/dev/null | cut -d' ' -f1) || have=""
  if [[ "$have" != "$sha" ]]; then
    echo "restore-register: board pack $rel: the archive's SHA-256 is ${have:-missing}, the register recorded $sha" >&2
    bad=1
  fi
done < <(q "SELECT pdf_path || '|' || sha256 FROM board_pack ORDER BY id")
[[ $bad == 0 ]] || fail "the archive does not match the register (the database is restored; the archive was not put in place)"

mkdir -p "$packs"
rmdir "$packs"
mv "$staging/packs" "$packs"
revision=$(q "SELECT version_num FROM alembic_version")
audit_head=$(q "SELECT id || ':' || hash FROM audit_event ORDER BY id DESC LIMIT 1")
[[ "$audit_head" == "$(sed -n "s/^audit_head=//p" "$backup/backup.info")" ]] || fail "the restored audit head $audit_head is not the backup's"
echo "Restored the register (revision $revision, audit head $audit_head) to $where and $found archive files to $packs"
here=$(cd "$packs" && pwd -P)
if [[ "$here" != "$source_packs" ]]; then
  echo "restore-register: note: the register names its packs under $source_packs, not $here: serve the archive from that path" >&2
fi
echo "Next: statclock db upgrade (with STATCLOCK_DATABASE_OWNER_URL and STATCLOCK_DATABASE_URL set), then statclock audit verify"
