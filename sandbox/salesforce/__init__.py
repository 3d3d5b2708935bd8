"""The Salesforce API sandbox: OAuth, REST and Bulk API 2.0 over the sandbox store."""

from sandbox.salesforce.app import create_app

__all__ = ["create_app"]
