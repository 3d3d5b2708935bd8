{#- Along the funnel a later stage is never entered before an earlier one. -#}
{%- set stages = ['known', 'engaged', 'mql', 'sql', 'opportunity', 'won'] -%}
select email
from {{ ref('people') }}
where false
{%- for stage in stages[1:] %}
    or {{ stage }}_at < {{ stages[loop.index0] }}_at
    or ({{ stage }}_at is not null and {{ stages[loop.index0] }}_at is null)
{%- endfor %}
