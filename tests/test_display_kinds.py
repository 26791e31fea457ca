"""Column kinds the reports got wrong: a count of spans named after cost, and day buckets shown with a midnight
time; both read back from the HTML table the report shows."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from runbook_lib.display import column_kind, format_value, table_html, table_text


def test_a_count_of_things_is_a_count_whatever_else_its_name_mentions() -> None:
    counts = pd.Series([1485, 829, 0])
    for name in ("spans without cost", "spans_without_cost", "traces with errors", "requests missing tokens"):
        assert column_kind(name, counts) == "count", name
    assert column_kind("cost_usd", pd.Series([0.5, 1.25])) == "usd"  # cost itself stays money
    assert column_kind("spans", pd.Series([3.0, 4.0])) == "count"
    frame = pd.DataFrame({"model": ["gpt-4o-mini"], "spans without cost": [1485]})
    assert "1,485" in table_html(frame) and "$" not in table_html(frame)


def test_day_buckets_show_the_day_and_times_keep_their_time() -> None:
    days = pd.Series(pd.to_datetime(["2026-11-27", "2026-11-28"], utc=True))
    assert column_kind("period_start_utc", days) == "date"
    assert [format_value(v, "date") for v in days] == ["2026-11-27", "2026-11-28"]
    times = pd.Series(pd.to_datetime(["2026-11-27 00:00:00", "2026-11-27 18:36:34.716"], utc=True, format="ISO8601"))
    assert column_kind("first_span_utc", times) == "time"
    assert format_value(times[1], "time") == "2026-11-27 18:36:34.716"
    assert column_kind("day", pd.Series([dt.date(2026, 12, 1), None], dtype=object)) == "date"

    frame = pd.DataFrame({"day_utc": days, "model": ["claude-3-5-sonnet", "o3-mini"], "spans": [13, 8]})
    assert table_text(frame).splitlines()[1].startswith("2026-11-27  claude-3-5-sonnet")
    html = table_html(frame)
    assert "00:00:00" not in html and "white-space:nowrap\">2026-11-27<" in html  # a day never wraps
    declared = table_html(frame, formats={"day_utc": "time"})  # a table declaring its day buckets as times
    assert "00:00:00" not in declared and ">2026-11-28<" in declared
    hourly = pd.DataFrame({"period_start_utc": pd.to_datetime(["2026-11-27 00:00", "2026-11-27 01:00"], utc=True)})
    assert "2026-11-27 01:00:00" in table_html(hourly, formats={"period_start_utc": "time"})
