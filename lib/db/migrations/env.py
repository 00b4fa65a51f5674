"""Alembic's entry: migrate the connection the app hands over, or the configured store (``alembic upgrade head``)."""

from alembic import context

from lib.db.connection import engine

connection = context.config.attributes.get("connection")
if connection is None:  # the alembic command line: the app's own connect migrates first, then nothing is left
    with engine().connect() as own:
        context.configure(connection=own)
        with context.begin_transaction():
            context.run_migrations()
else:
    context.configure(connection=connection)
    with context.begin_transaction():
        context.run_migrations()
