"""stoker's domain core: jobs, states, the state machine, records and the storage protocols.

Nothing here imports the client, the server, the dashboard, the CLI, the App or a storage driver.
"""
