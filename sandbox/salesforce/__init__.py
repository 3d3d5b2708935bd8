"""The Salesforce half of the sandbox: the object schema, the synthetic org, SOQL, and the API app
(``app.create_app``: OAuth, REST and Bulk API 2.0 over the sandbox store)."""
