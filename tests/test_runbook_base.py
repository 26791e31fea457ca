"""The Runbook base: sections in declaration order, results kept per section, checks and verdict,
from_parameters coercing (and writing back) or refusing like the runner."""

from __future__ import annotations

import pytest

from runbook_lib.checks import Check
from runbook_lib.errors import ParameterError
from runbook_lib.runbook import Runbook, Section, section
from runbook_lib.setup import SetupRunbook


class Counting(Runbook):
    notebook = "00_setup"

    def __init__(self, **values) -> None:
        super().__init__()
        self.values = values
        self.calls: list[str] = []

    @section("First step")
    def first(self) -> Section:
        self.calls.append("first")
        return Section([Check.passed("one.ok", "One")]).note("a note")

    @section("Second step", name="apply")
    def apply_it(self) -> Section:
        self.result("first")
        self.calls.append("apply")
        return Section([Check.failed("two.bad", "Two", "broken", "fix it")], title="Custom title")


def test_sections_run_in_order_and_build_on_each_other_once() -> None:
    rb = Counting()
    assert list(rb.SECTIONS) == ["first", "apply"]
    assert rb.verdict() == "skipped" and rb.checks == []  # nothing run, nothing checked: never passed
    rb.run("apply")
    assert rb.calls == ["first", "apply"]  # the prerequisite ran once, on demand
    assert [c.id for c in rb.checks] == ["one.ok", "two.bad"] and rb.verdict() == "failed"
    assert (rb.results["first"].title, rb.results["apply"].title) == ("First step", "Custom title")
    rb.run_all()
    assert rb.calls == ["first", "apply", "first", "apply"]  # run_all recomputes every section
    assert [c.id for c in rb.checks] == ["one.ok", "two.bad"]  # each check once
    assert callable(rb.show_apply) and "show_first" in dir(rb)
    with pytest.raises(AttributeError, match="no section 'nope'"):
        rb.run("nope")
    with pytest.raises(AttributeError):
        rb.show_nope  # noqa: B018


def test_from_parameters_coerces_and_writes_back() -> None:
    namespace = {"apply": "off", "timeout_s": "2.5", "litellm_url": "http://127.0.0.1:4000 ", "unrelated": 1}
    rb = SetupRunbook.from_parameters(namespace)
    assert (rb.apply, rb.timeout_s, rb.litellm_url) == (False, 2.5, "http://127.0.0.1:4000")
    assert namespace["apply"] is False and namespace["timeout_s"] == 2.5 and namespace["unrelated"] == 1
    assert namespace["litellm_master_key"] == "env:LITELLM_MASTER_KEY"  # defaults are filled in too


def test_from_parameters_refuses_with_the_runners_message_and_a_brief_traceback() -> None:
    with pytest.raises(ParameterError) as err:
        SetupRunbook.from_parameters({"apply": "maybe", "litellm_master_key": "sk-literal-secret-123"})
    text = "\n".join(err.value._render_traceback_())
    assert text.startswith("ParameterError: invalid parameters for 00_setup")
    assert "apply (bool)" in text and "litellm_master_key" in text
    assert "sk-literal-secret-123" not in text
