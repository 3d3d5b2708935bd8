"""Each client reads its login from its own system's variables, never the other's."""

from ingest.clients.acton_auth import ActOnConfig
from ingest.clients.salesforce_auth import SalesforceConfig

ENV = {
    "ACTON_CLIENT_ID": "acton-app",
    "ACTON_CLIENT_SECRET": "acton-secret",
    "ACTON_USERNAME": "acton-user",
    "ACTON_PASSWORD": "acton-password",
    "SALESFORCE_CLIENT_ID": "salesforce-app",
    "SALESFORCE_CLIENT_SECRET": "salesforce-secret",
    "SALESFORCE_USERNAME": "salesforce-user",
    "SALESFORCE_PASSWORD": "salesforce-password",
    "REQUESTS_CA_BUNDLE": "/etc/ca.pem",
}


def login(config) -> tuple[str, ...]:
    return (config.client_id, config.client_secret, config.username, config.password, config.ca_bundle)


def test_each_client_reads_its_own_login_variables():
    assert login(ActOnConfig.from_env(ENV)) == (
        "acton-app",
        "acton-secret",
        "acton-user",
        "acton-password",
        "/etc/ca.pem",
    )
    assert login(SalesforceConfig.from_env(ENV)) == (
        "salesforce-app",
        "salesforce-secret",
        "salesforce-user",
        "salesforce-password",
        "/etc/ca.pem",
    )


def test_an_unset_login_variable_is_empty_not_the_other_systems():
    only_salesforce = {k: v for k, v in ENV.items() if not k.startswith("ACTON_")}
    assert login(ActOnConfig.from_env(only_salesforce)) == ("", "", "", "", "/etc/ca.pem")
