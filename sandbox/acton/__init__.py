"""The Act-On half of the sandbox: its tables in the shared store, the synthetic world, and the API app."""

from sandbox.acton.app import create_app

__all__ = ["create_app"]
