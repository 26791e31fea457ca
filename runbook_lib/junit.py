"""JUnit XML of a run for CI: one test suite per notebook, one test case per check.

``fail``/``error`` checks are ``<failure>``/``<error>`` with the summary as the message and the remedy
in the body; ``skip`` checks are ``<skipped>``; ``warn`` checks pass with the warning in
``<system-out>`` (``--fail-on warn`` turns them into a failing exit code, not into failures here).
A notebook that raised is one ``<error>`` case. Text is redacted before it is written.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from .record import RunRecord
from .secrets import redact

__all__ = ["junit_xml", "write_junit"]


def _case(suite: ET.Element, notebook: str, check: dict, duration: float) -> None:
    case = ET.SubElement(suite, "testcase", classname=f"runbook.{notebook}", name=str(check.get("id")),
                         time=f"{duration:.3f}")
    status = check.get("status")
    summary = redact(str(check.get("summary") or ""))
    remedy = redact(str(check.get("remedy") or ""))
    body = f"{check.get('title', '')}\n{summary}" + (f"\nfix: {remedy}" if remedy else "")
    if status in ("fail", "error"):
        tag = "failure" if status == "fail" else "error"
        node = ET.SubElement(case, tag, message=summary, type=str(check.get("severity") or status))
        node.text = body
    elif status == "skip":
        ET.SubElement(case, "skipped", message=summary)
    elif status == "warn":
        ET.SubElement(case, "system-out").text = "warning: " + body


def junit_xml(record: RunRecord) -> str:
    """The run as a JUnit XML document (``<testsuites>``)."""
    suites = ET.Element("testsuites", name=f"runbook run {record.run_id}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for nb in record.notebooks:
        checks = list(nb.checks)
        counts = {"tests": len(checks) + (1 if nb.error else 0),
                  "failures": sum(c.get("status") == "fail" for c in checks),
                  "errors": sum(c.get("status") == "error" for c in checks) + (1 if nb.error else 0),
                  "skipped": sum(c.get("status") == "skip" for c in checks)}
        suite = ET.SubElement(suites, "testsuite", {"name": nb.name, "time": f"{nb.duration_s:.3f}",
                                                    **{k: str(v) for k, v in counts.items()}})
        share = nb.duration_s / max(len(checks), 1)
        for check in checks:
            _case(suite, nb.name, check, share)
        if nb.error:
            case = ET.SubElement(suite, "testcase", classname=f"runbook.{nb.name}", name="notebook.execution")
            ET.SubElement(case, "error", message=redact(nb.error), type="execution").text = redact(nb.error)
        for key in totals:
            totals[key] += counts[key]
    suites.attrib.update({k: str(v) for k, v in totals.items()})
    ET.indent(suites)
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def write_junit(record: RunRecord, path: str | Path) -> Path:
    """Write :func:`junit_xml` to ``path`` (folders created); return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(junit_xml(record), encoding="utf-8")
    return target
