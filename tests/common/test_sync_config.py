"""sync.yaml: the shipped file is valid and matches dbt's defaults; every kind of mistake stops the run with
the file, the key path, what is wrong and the fix."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from common.sync_config import ENGAGEMENT_EVENTS, SyncConfig, SyncConfigError, load_sync_config
from ingest.clients.acton_client import DRILLDOWNS

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "sync.yaml"


def shipped_data() -> dict:
    return yaml.safe_load(SHIPPED.read_text())


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "sync.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def error_for(tmp_path: Path, data: dict) -> str:
    path = write(tmp_path, data)
    with pytest.raises(SyncConfigError) as info:
        load_sync_config(path)
    message = str(info.value)
    assert str(path) in message and "fix:" in message
    return message


def test_shipped_file_is_the_defaults() -> None:
    config = load_sync_config(SHIPPED)
    assert config == SyncConfig()
    assert [(lst.name, lst.object) for lst in config.lists] == [
        ("SFDC Master Contacts", "Contact"),
        ("SFDC Master Leads", "Lead"),
    ]
    assert config.optouts.direction == "both"
    assert config.scores.salesforce_field == "ActOn_Lead_Score__c"
    assert config.writeback.dry_run is False


def test_dbt_project_defaults_match_the_shipped_config() -> None:
    dbt_vars = yaml.safe_load((ROOT / "dbt_project" / "dbt_project.yml").read_text())["vars"]
    assert load_sync_config(SHIPPED).to_dbt_vars() == dbt_vars


def test_path_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = shipped_data()
    data["funnel"]["mql_score"] = 65
    monkeypatch.setenv("SYNC_CONFIG", str(write(tmp_path, data)))
    assert load_sync_config().funnel.mql_score == 65
    assert load_sync_config().to_dbt_vars()["mql_score"] == 65


def test_default_path_is_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SYNC_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SyncConfigError, match=r"sync\.yaml: no such file; fix: create it"):
        load_sync_config()


def test_configured_fields_follow_the_mapping() -> None:
    data = shipped_data()
    data["lists"][0]["fields"]["Company"] = "Account.Legal_Name__c"
    data["report_mapping"]["amount"] = "Net_Amount__c"
    fields = SyncConfig.model_validate(data).configured_salesforce_fields()
    assert fields["account"] == ["Legal_Name__c"]
    assert "Net_Amount__c" in fields["opportunity"] and "Amount" not in fields["opportunity"]
    assert "ActOn_Lead_Score__c" in fields["lead"] and "ActOn_Lead_Score__c" in fields["contact"]


def test_a_prospect_field_set_to_null_is_neither_read_nor_written(tmp_path: Path) -> None:
    data = shipped_data()
    data["sales_prospects"]["high_intent_field"] = None
    config = load_sync_config(write(tmp_path, data))
    assert config.sales_prospects.written_fields() == ["ActOn_Last_Engagement__c"]
    fields = config.configured_salesforce_fields()
    assert "ActOn_High_Intent__c" not in fields["lead"] + fields["contact"]
    assert "ActOn_Last_Engagement__c" in fields["lead"] and "ActOn_Last_Engagement__c" in fields["contact"]
    assert config.to_dbt_vars()["high_intent_field"] is None
    data["sales_prospects"]["last_engagement_field"] = "Last Engagement"
    assert (
        "sales_prospects.last_engagement_field: 'Last Engagement' is not a Salesforce API name"
        in error_for(tmp_path, data)
    )


def test_unknown_key(tmp_path: Path) -> None:
    data = shipped_data()
    data["lists"][1]["colour"] = "blue"
    message = error_for(tmp_path, data)
    assert (
        "lists[1].colour: Extra inputs are not permitted; fix: remove it or correct its spelling" in message
    )


def test_wrong_type(tmp_path: Path) -> None:
    data = shipped_data()
    data["funnel"]["mql_score"] = "high"
    data["writeback"]["dry_run"] = "yes"
    message = error_for(tmp_path, data)
    assert "funnel.mql_score:" in message and "fix: write a number" in message
    assert "writeback.dry_run:" in message and "fix: write true or false" in message


def test_bad_direction(tmp_path: Path) -> None:
    data = shipped_data()
    data["optouts"]["direction"] = "sideways"
    message = error_for(tmp_path, data)
    assert "optouts.direction:" in message and "'pull', 'push', 'both' or 'off'" in message


def test_bad_cron(tmp_path: Path) -> None:
    data = shipped_data()
    data["lists"][1]["schedule"] = "every hour"
    message = error_for(tmp_path, data)
    assert (
        "lists[1].schedule: 'every hour' has 2 fields" in message and "fix: write e.g. '0 * * * *'" in message
    )


def test_list_name_used_twice(tmp_path: Path) -> None:
    data = shipped_data()
    data["lists"][1]["name"] = data["lists"][0]["name"]
    message = error_for(tmp_path, data)
    assert "lists[1].name 'SFDC Master Contacts' is used twice; fix: give every list a unique name" in message


def test_missing_email_mapping(tmp_path: Path) -> None:
    data = shipped_data()
    del data["lists"][0]["fields"]["Email"]
    message = error_for(tmp_path, data)
    assert "lists[0]: fields must map the 'Email' heading" in message and "fix: add `Email: Email`" in message


def test_any_heading_but_only_known_lookups(tmp_path: Path) -> None:
    data = shipped_data()
    data["lists"][0]["fields"]["Favourite Colour"] = (
        "Colour__c"  # any heading, any field (the preflight checks it)
    )
    assert load_sync_config(write(tmp_path, data)).lists[0].fields["Favourite Colour"] == "Colour__c"
    data["lists"][1]["fields"]["Company"] = "Account.Name"  # a Lead has no Account lookup
    message = error_for(tmp_path, data)
    assert "lists[1]: fields.Company = 'Account.Name' is not a Lead field" in message


def test_sales_prospects_must_name_a_list(tmp_path: Path) -> None:
    data = shipped_data()
    data["sales_prospects"]["prospects_assigned_to_sales"] = "SFDC Leads"
    message = error_for(tmp_path, data)
    assert "sales_prospects.prospects_assigned_to_sales names 'SFDC Leads'" in message


def test_lead_score_column_maps_to_the_score_field(tmp_path: Path) -> None:
    data = shipped_data()
    data["scores"]["salesforce_field"] = "Behaviour_Score__c"
    message = error_for(tmp_path, data)
    assert "lists[0].fields.Lead Score = 'ActOn_Lead_Score__c'" in message


def test_bad_score_source_and_field_name(tmp_path: Path) -> None:
    data = shipped_data()
    data["scores"]["source"] = "salesforce"
    data["report_mapping"]["amount"] = "Amount; drop table"
    message = error_for(tmp_path, data)
    assert "scores.source: 'salesforce' is not a score source" in message
    assert "report_mapping.amount: 'Amount; drop table' is not a Salesforce API name" in message


def test_not_yaml(tmp_path: Path) -> None:
    path = tmp_path / "sync.yaml"
    path.write_text("lists: [\n")
    with pytest.raises(SyncConfigError, match=r"sync\.yaml: line \d+, column \d+ is not valid YAML"):
        load_sync_config(path)


def test_funnel_defaults_are_todays_report() -> None:
    funnel = load_sync_config(SHIPPED).funnel
    assert funnel.period == "month"
    assert funnel.stages_on() == ["known", "engaged", "mql", "sql", "opportunity", "won"]
    assert funnel.engagement_events == ["OPENED", "CLICKED"]
    mapping = load_sync_config(SHIPPED).report_mapping
    assert (mapping.campaign_cost, mapping.campaign_cost_fallback) == (["ActualCost"], ["BudgetedCost"])


def test_stages_are_reported_in_funnel_order() -> None:
    data = shipped_data()
    data["funnel"]["stages"] = ["won", "opportunity", "known"]
    dbt_vars = SyncConfig.model_validate(data).to_dbt_vars()
    assert dbt_vars["funnel_stages"] == ["known", "opportunity", "won"]


def test_bad_period(tmp_path: Path) -> None:
    data = shipped_data()
    data["funnel"]["period"] = "fortnight"
    message = error_for(tmp_path, data)
    assert (
        "funnel.period: Input should be 'week', 'month' or 'quarter'; fix: use one of the allowed values"
        in message
    )


def test_unknown_stage_and_fixed_stages(tmp_path: Path) -> None:
    data = shipped_data()
    data["funnel"]["stages"] = ["known", "Engaged", "won"]
    message = error_for(tmp_path, data)
    assert (
        "funnel.stages: 'Engaged' is not a funnel stage; fix: use some of known, engaged, mql, sql" in message
    )
    data["funnel"]["stages"] = ["known", "engaged", "mql"]
    message = error_for(tmp_path, data)
    assert "funnel.stages: 'won' cannot be turned off; fix: add 'won' to the list" in message
    data["funnel"]["stages"] = ["known", "mql", "mql", "won"]
    assert "funnel.stages: 'mql' is named twice; fix: name it once" in error_for(tmp_path, data)


def test_unknown_engagement_event(tmp_path: Path) -> None:
    data = shipped_data()
    data["funnel"]["engagement_events"] = ["OPENED", "OPT_OUT"]
    message = error_for(tmp_path, data)
    assert (
        "funnel.engagement_events: 'OPT_OUT' is not an engagement event type (bounces, opt-outs and spam are "
        "not); fix: use some of SENT, OPENED, CLICKED" in message
    )
    data["funnel"]["engagement_events"] = []
    assert "funnel.engagement_events: List should have at least 1 item" in error_for(tmp_path, data)


def test_engagement_events_are_event_types_the_extract_lands() -> None:
    assert set(ENGAGEMENT_EVENTS) <= set(DRILLDOWNS)


def test_campaign_cost_fields(tmp_path: Path) -> None:
    data = shipped_data()
    data["report_mapping"]["campaign_cost"] = ["ActualCost", "Agency_Fee__c"]
    data["report_mapping"]["campaign_cost_fallback"] = []
    config = SyncConfig.model_validate(data)
    assert config.configured_salesforce_fields()["campaign"] == ["ActualCost", "Agency_Fee__c"]
    assert config.to_dbt_vars()["campaign_cost_fields"] == ["ActualCost", "Agency_Fee__c"]
    data["report_mapping"]["campaign_cost"] = ["Actual Cost"]
    message = error_for(tmp_path, data)
    assert "report_mapping.campaign_cost[0]: 'Actual Cost' is not a Salesforce API name" in message
    data["report_mapping"]["campaign_cost"] = ["ActualCost", "ActualCost"]
    message = error_for(tmp_path, data)
    assert "report_mapping.campaign_cost: 'ActualCost' is named twice; fix: name it once" in message
    data["report_mapping"]["campaign_cost"] = []
    message = error_for(tmp_path, data)
    assert "report_mapping.campaign_cost: List should have at least 1 item" in message
    assert "fix: name at least one" in message
