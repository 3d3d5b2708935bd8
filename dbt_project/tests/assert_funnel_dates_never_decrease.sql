{#- Along the funnel's stages turned on, a later stage is never entered before an earlier one. -#}
{%- set stages = var('funnel_stages') -%}
select email
from {{ ref('people') }}
where false
{%- for stage in stages[1:] %}
    or {{ stage }}_at < {{ stages[loop.index0] }}_at
    or ({{ stage }}_at is not null and {{ stages[loop.index0] }}_at is null)
{%- endfor %}
