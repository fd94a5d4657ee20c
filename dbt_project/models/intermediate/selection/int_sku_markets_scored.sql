-- Selection score, rank and recommendation per SKU x market (see the yml for the rule in
-- full). Six component scores on 0..100, a missing input scoring a neutral 50:
--   demand       cumulative distribution of 90-day revenue among the market's pairs
--                (the market's best seller scores 100)
--   growth       units growth of the last 28 days vs the 28 before: -50% -> 0, +50% -> 100
--   margin       landed margin: 10% -> 0, 60% -> 100
--   quality      mean of: return rate 20% -> 0, 0% -> 100; bad-review rate 40% -> 0,
--                0% -> 100; complaint tickets per 100 units 10 -> 0, 0 -> 100
--   competition  mean of: sellers on the listing 20 -> 0, 1 -> 100; price vs competitor
--                median +30% -> 0, -30% -> 100
--   compliance   100 - 25 per flag (voltage mismatch, plug mismatch, missing local docs,
--                duty/VAT change in the next 90 days)
-- Components are rounded to 1e-4, selection_score = sum(weight x component) / sum(weights)
-- rounded to 0.01, weights from the vars
-- selection_weight_*. Recommendation, first rule that holds: exit (landed margin below
-- var selection_exit_margin_pct or score below var selection_exit_score), fix (a pain
-- point: voltage/plug mismatch, missing local docs, complaints, returns, bad reviews,
-- logistics cost or thin margin past their var thresholds, in that order; the rates need at
-- least var selection_fix_min_events tickets, returned units or bad reviews), expand (score
-- at or above var selection_expand_score and units not falling), keep.

{%- set w_demand = var('selection_weight_demand', 0.25) %}
{%- set w_growth = var('selection_weight_growth', 0.10) %}
{%- set w_margin = var('selection_weight_margin', 0.30) %}
{%- set w_quality = var('selection_weight_quality', 0.20) %}
{%- set w_competition = var('selection_weight_competition', 0.10) %}
{%- set w_compliance = var('selection_weight_compliance', 0.05) %}

with

assembled as (

    select * from {{ ref('int_sku_markets_assembled') }}

),

components as (

    select
        *,
        round(100.0 * cume_dist() over (partition by destination_country order by revenue_90d_usd), 4) as demand_score,
        round(coalesce({{ linear_score('growth_28d_pct', -50, 50) }}, 50), 4) as growth_score,
        round(coalesce({{ linear_score('landed_margin_pct', 10, 60) }}, 50), 4) as margin_score,
        round(coalesce(
            (
                coalesce({{ linear_score('return_rate_pct', 20, 0) }}, 0)
                + coalesce({{ linear_score('bad_review_rate_pct', 40, 0) }}, 0)
                + coalesce({{ linear_score('complaint_tickets_per_100_units', 10, 0) }}, 0)
            )
            / nullif(
                case when return_rate_pct is null then 0 else 1 end
                + case when bad_review_rate_pct is null then 0 else 1 end
                + case when complaint_tickets_per_100_units is null then 0 else 1 end,
                0
            ),
            50
        ), 4) as quality_score,
        round(coalesce(
            (
                coalesce({{ linear_score('sellers_on_listing', 20, 1) }}, 0)
                + coalesce({{ linear_score('price_position_pct', 30, -30) }}, 0)
            )
            / nullif(
                case when sellers_on_listing is null then 0 else 1 end
                + case when price_position_pct is null then 0 else 1 end,
                0
            ),
            50
        ), 4) as competition_score,
        greatest(
            100.0
            - 25 * (
                case when voltage_mismatch then 1 else 0 end
                + case when plug_mismatch then 1 else 0 end
                + case when missing_local_docs then 1 else 0 end
                + case when duty_vat_change_next_90d then 1 else 0 end
            ),
            0
        ) as compliance_score
    from assembled

),

scored as (

    select
        *,
        round(
            (
                {{ w_demand }} * demand_score
                + {{ w_growth }} * growth_score
                + {{ w_margin }} * margin_score
                + {{ w_quality }} * quality_score
                + {{ w_competition }} * competition_score
                + {{ w_compliance }} * compliance_score
            )
            / (
                {{ w_demand }} + {{ w_growth }} + {{ w_margin }} + {{ w_quality }} + {{ w_competition }}
                + {{ w_compliance }}
            ),
            2
        ) as selection_score
    from components

),

pain_points as (

    select
        *,
        case
            when voltage_mismatch or plug_mismatch then 'voltage_plug_mismatch'
            when missing_local_docs then 'missing_local_docs'
            when
                complaint_tickets_per_100_units >= {{ var('selection_fix_complaints_per_100_units', 5) }}
                and complaint_tickets_90d >= {{ var('selection_fix_min_events', 3) }}
                then 'complaints'
            when
                return_rate_pct >= {{ var('selection_fix_return_rate_pct', 10) }}
                and returned_units_90d >= {{ var('selection_fix_min_events', 3) }}
                then 'returns'
            when
                bad_review_rate_pct >= {{ var('selection_fix_bad_review_rate_pct', 25) }}
                and bad_reviews_90d >= {{ var('selection_fix_min_events', 3) }}
                then 'bad_reviews'
            when logistics_cost_share_pct >= {{ var('selection_fix_logistics_share_pct', 25) }} then 'logistics_cost'
            when landed_margin_pct < {{ var('selection_fix_margin_pct', 15) }} then 'thin_margin'
        end as pain_point_kind
    from scored

),

recommended as (

    select
        *,
        case
            when landed_margin_pct < {{ var('selection_exit_margin_pct', 0) }} then 'negative_margin'
            when selection_score < {{ var('selection_exit_score', 45) }} then 'low_score'
            when pain_point_kind is not null then pain_point_kind
            when
                selection_score >= {{ var('selection_expand_score', 70) }}
                and coalesce(growth_28d_pct, 0) >= 0
                then 'high_score_not_declining'
            else 'no_trigger'
        end as recommendation_reason
    from pain_points

),

final as (

    select
        *,
        case
            when recommendation_reason in ('negative_margin', 'low_score') then 'exit'
            when recommendation_reason = pain_point_kind then 'fix'
            when recommendation_reason = 'high_score_not_declining' then 'expand'
            else 'keep'
        end as recommendation,
        case
            when recommendation_reason = 'voltage_plug_mismatch' then 'voltage or plug does not fit the market'
            when recommendation_reason = 'missing_local_docs' then 'no documentation in the local language'
            when recommendation_reason = 'complaints' then top_complaint_pain_point
            when recommendation_reason = 'returns' then 'returns: ' || coalesce(top_return_reason, 'unknown reason')
            when recommendation_reason = 'bad_reviews' then 'bad reviews'
            when recommendation_reason = 'logistics_cost' then 'logistics cost share too high'
            when recommendation_reason = 'thin_margin' then 'thin landed margin'
        end as pain_point,
        row_number() over (
            partition by destination_country
            order by selection_score desc, revenue_90d_usd desc, sku asc
        ) as selection_rank,
        count(*) over (partition by destination_country) as market_skus
    from recommended

)

select * from final
