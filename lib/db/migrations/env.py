"""Alembic's entry: migrate the connection the app hands over, or the configured store (``alembic upgrade head``)."""

from alembic import context
from sqlalchemy import Connection

from lib.db.connection import engine


def migrate(connection: Connection) -> None:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()


given = context.config.attributes.get("connection")
if given is None:  # the alembic command line: the app's own connect migrates first, then nothing is left
    with engine().connect() as own:
        migrate(own)
else:
    migrate(given)
