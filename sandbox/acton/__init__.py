"""The Act-On half of the sandbox: its tables in the shared store, its consent rules, the synthetic world's
Act-On side, and the API app (``app.create_app``)."""
