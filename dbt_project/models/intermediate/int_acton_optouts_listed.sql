{#- Every valid email on Act-On's opt-out list or with a spam complaint, once. -#}
{{ config(materialized='delta', change_key='email') }}
select email from {{ ref('stg_acton__optouts') }} where is_valid_email
union
select email from {{ ref('stg_acton__spam_complaints') }} where is_valid_email
