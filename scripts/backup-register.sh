#!/usr/bin/env bash
# Back up the case register (PostgreSQL) and the board pack archive into one dated folder.
#
#   scripts/backup-register.sh DEST
#
# makes DEST/statclock-backup-YYYYMMDDTHHMMSSZ/ holding
#   register.dump    pg_dump --format=custom of the register database
#   packs.tar        the pack archive folder (STATCLOCK_PACKS_DIR), paths relative to it
#   backup.info      where it came from: database, archive folder, revision, counts, audit head
#   MANIFEST.sha256  the SHA-256 of the three files above and of every file in the archive
#                    (sha256sum format: check with `sha256sum -c MANIFEST.sha256`)
#
# The database: STATCLOCK_DATABASE_OWNER_URL, else STATCLOCK_DATABASE_URL (SQLAlchemy URLs,
# e.g. postgresql+psycopg://statclock_owner:PASSWORD@postgres:5432/statclock). The owner role
# is the one to use: it reads everything, the application's role may not. The password is
# handed to pg_dump in PGPASSWORD, never on a command line `ps` shows.
# The archive: STATCLOCK_PACKS_DIR (default var/packs); a missing folder is an empty archive.
#
# Only bash, coreutils, tar and the PostgreSQL client (pg_dump, psql: a major version at least
# the server's) are needed, so it also runs in the postgres:16 image (docs/deployment.md,
# "Backup and restore"). The folder is written under a .partial name and renamed when
# complete: a backup folder without that suffix is whole. Exit 0 done, 1 failed, 2 refused.
set -euo pipefail

refuse() { echo "backup-register: $*" >&2; exit 2; }
fail() { echo "backup-register: $*" >&2; exit 1; }

[[ $# -eq 1 && -n "$1" && "$1" != -* ]] || refuse "usage: scripts/backup-register.sh DEST (the folder to put the dated backup in)"
dest=$1
url=${STATCLOCK_DATABASE_OWNER_URL:-${STATCLOCK_DATABASE_URL:-}}
[[ -n "$url" ]] || refuse "STATCLOCK_DATABASE_OWNER_URL (or STATCLOCK_DATABASE_URL) is not set: name the register database"

# postgresql+driver://user:password@host:port/db?query -> libpq URL without the password.
re='^postgres(ql)?(\+[A-Za-z0-9_]+)?://([^:@/]*)(:([^@]*))?@(.+)$'
[[ "$url" =~ $re ]] || refuse "database URL: not a PostgreSQL URL (postgresql+psycopg://user:password@host/db): backups are of the PostgreSQL register"
export PGPASSWORD=${BASH_REMATCH[5]}
libpq="postgresql://${BASH_REMATCH[3]}@${BASH_REMATCH[6]}"
packs=${STATCLOCK_PACKS_DIR:-var/packs}

mkdir -p "$dest" || fail "cannot create $dest"
stamp=$(date -u +%Y%m%dT%H%M%SZ)
final="$dest/statclock-backup-$stamp"
[[ ! -e "$final" ]] || refuse "$final already exists"
work="$final.partial"
rm -rf "$work"
mkdir "$work"
trap 'rm -rf "$work"' EXIT

q() { psql --no-psqlrc -X -qAt -v ON_ERROR_STOP=1 -d "$libpq" -c "$1"; }
revision=$(q "SELECT version_num FROM alembic_version" 2>/dev/null) ||
  fail "the register cannot be read at ${BASH_REMATCH[6]%%\?*} (is it migrated, and the password right?)"
packs_rows=$(q "SELECT count(*) FROM board_pack")
audit_head=$(q "SELECT id || ':' || hash FROM audit_event ORDER BY id DESC LIMIT 1")

pg_dump --format=custom --no-password --file="$work/register.dump" -d "$libpq" ||
  fail "pg_dump failed (its message is above)"

if [[ -d "$packs" ]]; then
  tar -C "$packs" -cf "$work/packs.tar" .
  (cd "$packs" && find . -type f ! -name '.*.tmp' -print0 | sort -z | xargs -0 -r sha256sum) \
    | sed 's#^\([0-9a-f]*\)  \./#\1  packs/#' >"$work/packs.sha256"
else
  tar -cf "$work/packs.tar" -T /dev/null
  : >"$work/packs.sha256"
fi

cat >"$work/backup.info" <<EOF
created_utc=$stamp
database=${BASH_REMATCH[6]%%\?*}
revision=$revision
audit_head=$audit_head
board_packs=$packs_rows
packs_dir=$(cd "$packs" 2>/dev/null && pwd -P || echo "$packs")
pack_files=$(wc -l <"$work/packs.sha256")
pg_dump=$(pg_dump --version)
EOF

(cd "$work" && sha256sum register.dump packs.tar backup.info && cat packs.sha256) >"$work/MANIFEST.sha256"
rm "$work/packs.sha256"
mv "$work" "$final"
trap - EXIT
echo "Backed up the register (revision $revision, audit head $audit_head, $packs_rows board packs) to $final"
