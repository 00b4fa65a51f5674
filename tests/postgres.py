"""A throwaway PostgreSQL cluster for tests and benchmarks: initdb + pg_ctl in a temp dir, 127.0.0.1, a free port.

Run as a non-root user (PostgreSQL refuses root): as ``postgres`` (Debian's package makes it) or ``nobody``.
Every database a test gets is a copy of a migrated template, so a test starts from an empty, current schema.
"""

from __future__ import annotations

import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg
from sqlalchemy import make_url

TEMPLATE = "studio_template"


def binaries() -> Path | None:
    """The directory holding initdb and pg_ctl, or None where PostgreSQL is not installed."""
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Cluster:
    """One PostgreSQL server for a test session; ``database()`` hands out fresh, migrated databases."""

    def __init__(self) -> None:
        bin_dir = binaries()
        if bin_dir is None:
            raise RuntimeError("PostgreSQL is not installed (initdb not found): run `make test` as root to install it")
        self.bin = bin_dir
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="studio-pg-"))
        self.data = self.root / "data"
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = next(u for u in ("postgres", "nobody") if _has_user(u))
            owner = pwd.getpwnam(self.user)
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "studio", "--auth=trust", "-E", "UTF8", "--no-sync")
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self._names = itertools.count(1)
        self._template_ready = False

    def _run(self, program: str, *arguments: str) -> None:
        command = [str(self.bin / program), *arguments]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        subprocess.run(command, check=True, capture_output=True, cwd=self.root)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://studio@127.0.0.1:{self.port}/{database}"

    def _admin(self, statement: str) -> None:
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=studio dbname=postgres", autocommit=True) as conn:
            conn.execute(statement.encode())  # our own fixed statements

    def database(self) -> str:
        """The URL of a new database holding the current schema and nothing else."""
        if not self._template_ready:
            self._admin(f"CREATE DATABASE {TEMPLATE}")
            _migrate(self.url(TEMPLATE))
            self._template_ready = True
        name = f"studio_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _migrate(url: str) -> None:
    """Migrate the template (and let go of it: a template in use cannot be copied)."""
    from lib.db import connection

    previous = os.environ.get(connection.URL_VARIABLE)
    os.environ[connection.URL_VARIABLE] = url
    try:
        connection.engine()
        connection.engine().dispose()
    finally:
        if previous is None:
            del os.environ[connection.URL_VARIABLE]
        else:
            os.environ[connection.URL_VARIABLE] = previous
    assert make_url(url).database == TEMPLATE
