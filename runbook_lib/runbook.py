"""One shape for every runbook: an object built from the notebook's parameters, with sections.

A notebook is thin: its tagged parameters cell, then ::

    rb = SetupRunbook.from_parameters(globals())   # validates and coerces, or refuses
    rb.show_lint()                                  # one cell per section
    ...
    rb.show_verdict()                               # the last cell

A subclass names its notebook and marks section methods with :func:`section`. A section method
computes and returns a :class:`Section` (checks plus the tables, notes, code and figures worth
showing); it never displays. ``show(name)`` (or ``show_<name>()``) runs the section and shows it
through :mod:`runbook_lib.display`, recording its checks for the runner. Tests call the same methods
the notebook calls, so a notebook cannot break while its tests pass.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from . import display
from .checks import Check, verdict_of

__all__ = ["Code", "Figure", "Note", "Runbook", "Section", "SectionSpec", "Table", "failed_precondition", "section",
           "skipped_because"]

R = TypeVar("R", bound="Runbook")


# ------------------------------------------------------------------------------------------------
# What a section shows
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Note:
    """A short Markdown note."""

    text: str

    def show(self) -> None:
        display.show_markdown(self.text)


@dataclass(frozen=True)
class Table:
    """A data table; ``formats`` maps columns to kinds of :data:`runbook_lib.display.COLUMN_KINDS`."""

    frame: Any
    title: str | None = None
    formats: Mapping[str, str] | None = None
    caption: str | None = None
    notes: Sequence[str] = ()
    max_rows: int | None = None

    def show(self) -> None:
        display.show_table(self.frame, title=self.title, formats=self.formats, caption=self.caption,
                           notes=self.notes, max_rows=self.max_rows)


@dataclass(frozen=True)
class Code:
    """A monospace block (YAML, SQL, a diff)."""

    text: str
    language: str = ""
    title: str | None = None

    def show(self) -> None:
        display.show_code(self.text, self.language, title=self.title)


@dataclass(frozen=True)
class Figure:
    """A matplotlib figure."""

    figure: Any
    title: str | None = None

    def show(self) -> None:
        display.show_figure(self.figure, title=self.title)


Block = Note | Table | Code | Figure


@dataclass
class Section:
    """What one section computed: its checks and what to show with them, in order.

    The checks table is shown after the blocks, unless :meth:`checks_here` placed it earlier.
    """

    checks: list[Check] = field(default_factory=list)
    blocks: list[Block | None] = field(default_factory=list)  # None marks where the checks table goes
    name: str = ""  # filled in from the section's registration
    title: str = ""

    def note(self, text: str) -> Section:
        self.blocks.append(Note(text))
        return self

    def table(self, frame: Any, **kw: Any) -> Section:
        self.blocks.append(Table(frame, **kw))
        return self

    def code(self, text: str, language: str = "", *, title: str | None = None) -> Section:
        self.blocks.append(Code(text, language, title))
        return self

    def figure(self, fig: Any, *, title: str | None = None) -> Section:
        self.blocks.append(Figure(fig, title))
        return self

    def add(self, *checks: Check) -> Section:
        self.checks.extend(checks)
        return self

    def checks_here(self) -> Section:
        """Show the checks table at this point, before the blocks added later."""
        self.blocks.append(None)
        return self

    @property
    def tables(self) -> list[Table]:
        return [b for b in self.blocks if isinstance(b, Table)]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def show(self, *, record: bool = True) -> None:
        """Display the blocks and the checks table (recording the checks unless ``record=False``)."""
        placed = False
        for block in self.blocks:
            if block is None:
                placed = True
                if self.checks:
                    display.show_checks(self.checks, self.title, record=record)
            else:
                block.show()
        if not placed and self.checks:
            display.show_checks(self.checks, self.title, record=record)


def failed_precondition(checks: Sequence[Check], ids: Sequence[str]) -> Check | None:
    """The first check among ``ids`` (in that order) that failed or errored, or None when all held.

    Sections that build on another section's outcome ask this before running, so a broken
    precondition turns what depends on it into ``skip`` rather than a misleading ``fail``."""
    by_id = {c.id: c for c in checks}
    for check_id in ids:
        check = by_id.get(check_id)
        if check is not None and not check.ok:
            return check
    return None


def skipped_because(cause: Check, *checks: tuple[str, str]) -> Section:
    """A section whose checks (``(id, title)`` pairs) are all ``skip`` because ``cause`` failed."""
    reason = f"skipped because {cause.id} failed: {cause.summary}" if cause.summary else \
        f"skipped because {cause.id} failed"
    return Section([Check.skipped(i, t, reason, evidence={"blocked_by": cause.id}) for i, t in checks]).note(
        f"_Skipped: this section depends on `{cause.id}`, which failed (see above)._")


# ------------------------------------------------------------------------------------------------
# Section registry
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SectionSpec:
    """A registered section: its name (``show_<name>``), the title its checks table carries, its method."""

    name: str
    title: str
    method: str


def section(title: str, *, name: str | None = None) -> Callable[[Callable[[Any], Section]], Callable[[Any], Section]]:
    """Mark a method of a :class:`Runbook` subclass as a section titled ``title``, named after the
    method unless ``name`` is given (when the method name would clash with a parameter)."""

    def mark(method: Callable[[Any], Section]) -> Callable[[Any], Section]:
        spec = SectionSpec(name or method.__name__, title, method.__name__)
        method.__runbook_section__ = spec  # type: ignore[attr-defined]
        return method

    return mark


class Runbook:
    """Base of every notebook's runbook object.

    Subclasses set ``notebook`` (the notebook's name) and define ``__init__`` taking the declared
    parameters as keywords, plus section methods marked with :func:`section`. Results are kept per
    section; :attr:`checks` accumulates every check of the sections run so far.
    """

    notebook: ClassVar[str] = ""
    SECTIONS: ClassVar[dict[str, SectionSpec]] = {}

    def __init_subclass__(cls, **kw: Any) -> None:
        super().__init_subclass__(**kw)
        found: dict[str, SectionSpec] = {}
        for base in reversed(cls.__mro__):
            for value in vars(base).values():
                spec = getattr(value, "__runbook_section__", None)
                if spec is not None:
                    found[spec.name] = spec
        cls.SECTIONS = found

    def __init__(self) -> None:
        self.results: dict[str, Section] = {}

    # Construction ----------------------------------------------------------------------------------
    @classmethod
    def from_parameters(cls: type[R], namespace: Mapping[str, Any], *, write_back: bool = True) -> R:
        """Validate and coerce the notebook's parameters as they stand in ``namespace`` (a kernel's
        ``globals()`` or a plain mapping) by the runner's rules, and build the runbook.

        With ``write_back`` (and a mutable namespace) the coerced values replace the raw ones, so the
        kernel holds exactly what ``runbook run`` would inject (``apply = "false"`` becomes False).
        Started by ``runbook lab -f FILE``, parameters still at their default come from that file
        (:mod:`runbook_lib.lab_params`).
        Invalid values raise :class:`~runbook_lib.errors.ParameterError` with the runner's message,
        shown in a notebook without a library traceback.
        """
        from .errors import ParameterError
        from .lab_params import with_params_file
        from .notebooks import find_notebook
        from .params import coerce_parameters, read_declarations

        specs = read_declarations(find_notebook(cls.notebook).path)
        try:
            values = coerce_parameters(specs, with_params_file(namespace, specs, cls.notebook),
                                       notebook=cls.notebook)
        except ParameterError as exc:
            raise display.brief_traceback(exc) from None
        if write_back and isinstance(namespace, MutableMapping):
            namespace.update(values)
        return cls(**values)

    # Sections --------------------------------------------------------------------------------------
    def run(self, name: str) -> Section:
        """Compute section ``name`` (again, if it ran before) and keep its result; nothing is shown."""
        if name not in self.SECTIONS:
            raise AttributeError(f"{type(self).__name__} has no section {name!r}; sections: {', '.join(self.SECTIONS)}")
        spec = self.SECTIONS[name]
        result = getattr(self, spec.method)()
        if not isinstance(result, Section):
            raise TypeError(f"section {name!r} of {type(self).__name__} returned {type(result).__name__}, "
                            "not a Section")
        result.name, result.title = result.name or spec.name, result.title or spec.title
        self.results[name] = result
        return result

    def result(self, name: str) -> Section:
        """The result of section ``name``, computed once on first use (for sections that build on it)."""
        return self.results[name] if name in self.results else self.run(name)

    def run_all(self) -> list[Check]:
        """Compute every section in order (the notebook's path without display); return all checks."""
        for name in self.SECTIONS:
            self.run(name)
        return self.checks

    def show(self, name: str) -> None:
        """Compute section ``name`` and show it (blocks, then its checks, recorded for the runner).
        The result stays in :attr:`results`."""
        self.run(name).show()

    def __getattr__(self, attr: str) -> Any:
        if attr.startswith("show_") and attr[5:] in type(self).SECTIONS:
            return lambda: self.show(attr[5:])
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {attr!r}")

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {f"show_{n}" for n in self.SECTIONS})

    def __iter__(self) -> Iterator[Section]:
        return (self.results[n] for n in self.SECTIONS if n in self.results)

    # Outcome ----------------------------------------------------------------------------------------
    @property
    def checks(self) -> list[Check]:
        """Every check of the sections run so far, in section order."""
        return [c for result in self for c in result.checks]

    def verdict(self) -> str:
        """``failed`` when any check failed or errored, else ``passed``."""
        return verdict_of(self.checks)

    def show_verdict(self) -> None:
        """Show the one-line verdict (the notebook's last cell)."""
        display.show_verdict(self.checks, self.notebook)
