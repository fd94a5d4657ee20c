"""Lint-only stand-ins for dbt's cross-database macros (`dbt.datediff`, ...) as DuckDB SQL.

sqlfluff's jinja templater exposes this module as `dbt` when `library_path = lint/library`.
dbt itself never reads this folder.
"""


def datediff(first_date: str, second_date: str, datepart: str) -> str:
    return f"date_diff('{datepart}', {first_date}::timestamp, {second_date}::timestamp)"


def dateadd(datepart: str, interval: object, from_date_or_timestamp: str) -> str:
    return f"({from_date_or_timestamp} + cast({interval} as bigint) * interval 1 {datepart})"


def type_bigint() -> str:
    return "bigint"


def type_string() -> str:
    return "varchar"


def length(expression: str) -> str:
    return f"length({expression})"


def date_trunc(datepart: str, date: str) -> str:
    return f"date_trunc('{datepart}', {date})"
