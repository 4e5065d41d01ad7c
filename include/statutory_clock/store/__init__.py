"""The case register: domain database, migrations, case files and the audited write API."""
