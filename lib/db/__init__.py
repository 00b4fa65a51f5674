"""The app's database: the connection, numbered migrations, and one repository module per domain."""
