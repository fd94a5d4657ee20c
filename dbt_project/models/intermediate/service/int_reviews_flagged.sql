-- One row per product review with the flags the selection and service marts count: a bad
-- review has a rating of 2 or less, a complaint review a topic other than 'praise'.
-- Incremental (delete+insert on review_id): with vars min_date/max_date only the review
-- days of the window are recomputed; without them the table is rebuilt in full.

{{ config(**incremental_by_day('review_date', 'review_id')) }}

with

reviews as (

    select * from {{ ref('stg_platform__reviews') }}
    where {{ window_predicate('review_date') }}

),

flagged as (

    select
        review_id,
        sku,
        marketplace,
        destination_country,
        topic,
        language,
        rating,
        rating <= 2 as is_bad_review,
        topic <> 'praise' as is_complaint,
        review_date,
        reviewed_at
    from reviews

)

select * from flagged
