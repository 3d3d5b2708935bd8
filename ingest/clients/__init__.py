"""The API clients: one HTTP session factory (timeouts, retries, TLS, call counting) with its errors, answer
checks, redaction, rate limit, daily call log, token cache and job polling; then one module per API surface,
named system first: ``salesforce_auth``, ``salesforce_client``, ``salesforce_soql``, ``salesforce_frames``,
``acton_auth``, ``acton_client``."""
