{#- What sync.yaml's funnel and report_mapping sections make of the reports: the funnel's period (week, month or
    quarter, in UTC) and a campaign's cost. -#}

{#- Every stage of the funnel in order, whether turned on or not (sync.yaml funnel.stages lists those on); a stage's
    place here is its stage_order in the reports. -#}
{% macro funnel_all_stages() -%}
    {{ return(['known', 'engaged', 'mql', 'sql', 'opportunity', 'won']) }}
{%- endmacro %}

{#- The first day of the configured period containing a timestamp; a week starts on Monday (ISO). -#}
{% macro funnel_period_start(expr) -%}
    cast({{ dbt.date_trunc(var('funnel_period'), expr) }} as date)
{%- endmacro %}

{#- Every period start from the first to the last (dates, both included), one row each as period_start: the
    spine that makes a period without entries a row of zeros. -#}
{% macro funnel_period_spine(first_period, last_period) -%}
    {%- set step = {'week': '7 days', 'month': '1 month', 'quarter': '3 months'}[var('funnel_period')] -%}
    {{ return(adapter.dispatch('funnel_period_spine')(first_period, last_period, step)) }}
{%- endmacro %}

{% macro default__funnel_period_spine(first_period, last_period, step) -%}
    cast(generate_series(
        cast({{ first_period }} as {{ dbt.type_timestamp() }}),
        cast({{ last_period }} as {{ dbt.type_timestamp() }}),
        interval '{{ step }}'
    ) as date)
{%- endmacro %}

{% macro duckdb__funnel_period_spine(first_period, last_period, step) -%}
    cast(unnest(generate_series(
        cast({{ first_period }} as {{ dbt.type_timestamp() }}),
        cast({{ last_period }} as {{ dbt.type_timestamp() }}),
        interval '{{ step }}'
    )) as date)
{%- endmacro %}

{#- How people name a period: 2024-W03 (the ISO year and week), 2024-01, 2024-Q1. -#}
{% macro funnel_period_label(period_start) -%}
    {{ return(adapter.dispatch('funnel_period_label')(period_start, var('funnel_period'))) }}
{%- endmacro %}

{% macro default__funnel_period_label(period_start, period) -%}
    {%- set formats = {'week': 'IYYY-"W"IW', 'month': 'YYYY-MM', 'quarter': 'YYYY-"Q"Q'} -%}
    to_char({{ period_start }}, '{{ formats[period] }}')
{%- endmacro %}

{% macro duckdb__funnel_period_label(period_start, period) -%}
    {%- if period == 'quarter' -%}
        strftime({{ period_start }}, '%Y') || '-Q' || cast(quarter({{ period_start }}) as varchar)
    {%- else -%}
        strftime({{ period_start }}, '{{ {"week": "%G-W%V", "month": "%Y-%m"}[period] }}')
    {%- endif -%}
{%- endmacro %}

{#- The sum of the Campaign fields named (staged as cfg__ columns), null when none of them is set. -#}
{% macro sum_of_set_fields(api_names) -%}
    {%- if api_names | length == 0 -%}
        cast(null as {{ type_double() }})
    {%- else -%}
        case when {% for f in api_names %}{{ cfg_column(f) }} is not null{% if not loop.last %} or {% endif %}{% endfor %}
            then {% for f in api_names %}coalesce(cast({{ cfg_column(f) }} as {{ type_double() }}), 0){% if not loop.last %} + {% endif %}{% endfor %}
        end
    {%- endif -%}
{%- endmacro %}

{#- A campaign's cost: the sum of report_mapping.campaign_cost, else (none of them set) of its fallback. -#}
{% macro campaign_cost() -%}
    coalesce({{ sum_of_set_fields(var('campaign_cost_fields')) }}, {{ sum_of_set_fields(var('campaign_cost_fallback_fields')) }})
{%- endmacro %}
