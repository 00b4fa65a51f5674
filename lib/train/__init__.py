"""Train: provider clients and their errors, launching jobs, reading jobs and events, the local server's client."""
