"""The dashboard's two cost and volume views, computed by upstream's rules, and the real ones fetched.

The AgentOps dashboard shows a project's spend in two places that follow different rules (read from
upstream's ``api/models/{metrics,traces,span_metrics}.py`` and ``routes/v4/{metrics,traces}/views.py``):

- **project metrics** (``GET /v4/meterics/project/{id}``): per span, ``gen_ai.usage.prompt_cost`` +
  ``gen_ai.usage.completion_cost``, each priced by ``calculate_*_cost`` (the price dictionary) when the
  attribute is empty; ``gen_ai.usage.total_cost`` is ignored. Shown with 5 decimals. A free-plan
  project's window is clamped to the last 30 days. Answers are cached 300 s per (project, start, end).
- **trace list** (``GET /v4/traces/list/{id}``, its ``metrics``): per span ``gen_ai.usage.total_cost``,
  else ``calculate_prompt_cost + calculate_completion_cost``. Shown with 7 decimals. Its
  ``span_count`` counts traces, and success/fail count traces by their last span's ``StatusCode``.
  Cached 30 s, and only for requests with a window, a query or an offset.

Both price a span by ``normalize_model_name(response model, else request model)`` and filter
``Timestamp >= start`` and ``<= end``. :func:`compute_views` runs those rules on a store and explains,
row by row, which rule each figure uses and why the views differ; :func:`open_dashboard_session` and
:func:`fetch_dashboard_figures` get the API's own figures to put beside them.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..errors import ServiceError
from ..secrets import SecretRef, redact, remember_secret
from . import dashboard_objects as objects
from .readiness import DASHBOARD_MODEL_EXPRESSION, normalize_rule_sql
from .schema import DATABASE, TABLE

__all__ = [
    "FREEPLAN_METRICS_DAYS",
    "PROJECT_METRICS_CACHE_S",
    "TRACE_LIST_CACHE_S",
    "DashboardFigures",
    "DashboardLogin",
    "DashboardSession",
    "DashboardViews",
    "ViewFigures",
    "ViewRow",
    "cache_notes",
    "compute_views",
    "fetch_dashboard_figures",
    "open_dashboard_session",
    "trace_list_cost",
]

#: Upstream's ``metrics_cache`` TTL (project metrics) and ``trace_list_cache`` TTL, in seconds.
PROJECT_METRICS_CACHE_S = 300
TRACE_LIST_CACHE_S = 30
#: Upstream's ``FREEPLAN_METRICS_DAYS_CUTOFF`` default.
FREEPLAN_METRICS_DAYS = 30

_ATTR = "SpanAttributes['gen_ai.usage.{}']"
_TOKENS = "toUInt64OrZero(ifNull(" + _ATTR + ", '0'))"


def _udf(direction: str, tokens: str, database: str, *, dictionary: bool, store_function: bool) -> str:
    """``calculate_{direction}_cost(tokens, model)``'s rule over the dictionary named with its database
    (the functions name it bare, which only resolves when the query's current database is right)."""
    if not dictionary:
        return "0."
    key = "normalize_model_name(m)" if store_function else normalize_rule_sql("m")
    dict_name = f"{database}.{next(o.name for o in objects.OBJECTS if o.kind == 'dictionary')}"
    return (f"if({tokens} > 0 AND m != '', round(toFloat64({tokens}) / 1000 * dictGetOrDefault('{dict_name}', "
            f"'{direction}_cost_per_1k', {key}, 0.), 7), 0.)")


@dataclass
class ViewFigures:
    """One view's figures as the dashboard computes them (before formatting), and the window it used."""

    view: str
    start: dt.datetime | None
    end: dt.datetime | None
    trace_count: int = 0
    span_count: int = 0
    success_count: int = 0
    fail_count: int = 0
    indeterminate_count: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    total_cost: Decimal = Decimal(0)

    @property
    def shown_cost(self) -> str:
        """The total cost as the dashboard prints it (5 decimals for project metrics, 7 for the trace list)."""
        return f"{float(self.total_cost):.{5 if self.view == 'project metrics' else 7}f}"


@dataclass(frozen=True)
class ViewRow:
    """One figure in both views, the rule behind each and why they differ (empty when they agree)."""

    figure: str
    project_metrics: Any
    trace_list: Any
    project_rule: str
    trace_list_rule: str
    why: tuple[str, ...] = ()


@dataclass
class DashboardViews:
    """Both views over one project and window, the rows comparing them, and the facts behind the rows."""

    project_id: str
    project_metrics: ViewFigures
    trace_list: ViewFigures
    rows: list[ViewRow]
    spans_by_cost_attributes: dict[str, dict[str, Any]]
    unpriced: list[dict[str, Any]]
    newest_span: dt.datetime | None
    notes: list[str] = field(default_factory=list)


def _where(project_id: str, start: dt.datetime | None, end: dt.datetime | None) -> tuple[str, dict[str, Any]]:
    conds = ["ResourceAttributes['agentops.project.id'] = {project:String}"]
    params: dict[str, Any] = {"project": project_id}
    if start is not None:
        conds.append("Timestamp >= {start:DateTime64(9)}")
        params["start"] = start
    if end is not None:
        conds.append("Timestamp <= {end:DateTime64(9)}")
        params["end"] = end
    return " AND ".join(conds), params


def _naive_utc(value: dt.datetime | None) -> dt.datetime | None:
    if value is None or value.tzinfo is None:
        return value
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None)


def _rows(store: Any, sql: str, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in store.query_df(sql, dict(params)).itertuples(index=False)]


def _dec(text: Any) -> Decimal:
    return Decimal(str(text)) if text not in (None, "") else Decimal(0)


def _project_metrics(store: Any, where: str, params: Mapping[str, Any], database: str, udf: Mapping[str, str],
                     start: dt.datetime | None, end: dt.datetime | None) -> ViewFigures:
    p, c = (_ATTR.format("prompt_cost"), _ATTR.format("completion_cost"))
    sql = f"""
    SELECT TraceId, countIf(upper(StatusCode) = 'OK'), countIf(upper(StatusCode) = 'ERROR'),
           countIf(upper(StatusCode) NOT IN ('OK', 'ERROR')),
           sum(pt), sum(ct),
           sum(if({_ATTR.format('total_tokens')} != '', toUInt64OrZero({_ATTR.format('total_tokens')}),
                  pt + ct + cr + rt)),
           toString(sum(if({p} != '', toDecimal64OrZero({p}, 9), toDecimal64({udf['prompt']}, 9)))),
           toString(sum(if({c} != '', toDecimal64OrZero({c}, 9), toDecimal64({udf['completion']}, 9))))
    FROM (SELECT *, {DASHBOARD_MODEL_EXPRESSION} AS m, {_TOKENS.format('prompt_tokens')} AS pt,
                 {_TOKENS.format('completion_tokens')} AS ct, {_TOKENS.format('cache_read_input_tokens')} AS cr,
                 {_TOKENS.format('reasoning_tokens')} AS rt
          FROM {database}.{TABLE} WHERE {where})
    GROUP BY TraceId"""
    view = ViewFigures("project metrics", start, end)
    for _tid, ok, err, ind, pt, ct, tt, pc, cc in _rows(store, sql, params):
        view.trace_count += 1
        view.span_count += int(ok) + int(err) + int(ind)
        view.success_count += int(ok)
        view.fail_count += int(err)
        view.indeterminate_count += int(ind)
        view.prompt_tokens += int(pt)
        view.completion_tokens += int(ct)
        view.total_tokens += int(tt)
        view.total_cost += _dec(pc) + _dec(cc)
    return view


def _trace_list(store: Any, where: str, params: Mapping[str, Any], database: str, udf: Mapping[str, str],
                start: dt.datetime | None, end: dt.datetime | None) -> ViewFigures:
    t = _ATTR.format("total_cost")
    sql = f"""
    SELECT TraceId, argMax(StatusCode, Timestamp), sum(pt), sum(ct), sum(cr), sum(rt),
           toString(sum(if({t} != '', toDecimal64OrZero({t}, 9),
                           toDecimal64({udf['prompt']} + {udf['completion']}, 9))))
    FROM (SELECT *, {DASHBOARD_MODEL_EXPRESSION} AS m, {_TOKENS.format('prompt_tokens')} AS pt,
                 {_TOKENS.format('completion_tokens')} AS ct, {_TOKENS.format('cache_read_input_tokens')} AS cr,
                 {_TOKENS.format('reasoning_tokens')} AS rt
          FROM {database}.{TABLE} WHERE {where})
    GROUP BY TraceId"""
    view = ViewFigures("trace list", start, end)
    for _tid, status, pt, ct, cr, rt, cost in _rows(store, sql, params):
        view.trace_count += 1
        view.span_count += 1  # upstream counts the rows of its per-trace aggregate
        status = str(status).upper()  # upstream's models upper-case status_code before comparing
        if status == "OK":
            view.success_count += 1
        elif status == "ERROR":
            view.fail_count += 1
        else:
            view.indeterminate_count += 1
        view.prompt_tokens += int(pt)
        view.completion_tokens += int(ct)
        view.total_tokens += int(pt) + int(ct) + int(cr) + int(rt)
        view.total_cost += _dec(cost)
    return view


def _breakdown(store: Any, where: str, params: Mapping[str, Any], database: str, udf: Mapping[str, str]
               ) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]], dt.datetime | None]:
    t, p, c = (_ATTR.format(k) for k in ("total_cost", "prompt_cost", "completion_cost"))
    sql = f"""
    SELECT multiIf(has_t AND has_pc, 'both', has_t, 'total_cost only', has_pc, 'prompt/completion cost only',
                   'neither') AS kind, count(), sum(pt + ct),
           toString(sum(toDecimal64OrZero({t}, 9))),
           toString(sum(toDecimal64OrZero({p}, 9) + toDecimal64OrZero({c}, 9))),
           toString(sum(toDecimal64({udf['prompt']} + {udf['completion']}, 9))), max(Timestamp)
    FROM (SELECT *, {DASHBOARD_MODEL_EXPRESSION} AS m, {_TOKENS.format('prompt_tokens')} AS pt,
                 {_TOKENS.format('completion_tokens')} AS ct, {t} != '' AS has_t, ({p} != '' OR {c} != '') AS has_pc
          FROM {database}.{TABLE} WHERE {where})
    GROUP BY kind"""
    kinds: dict[str, dict[str, Any]] = {}
    newest = None
    for kind, spans, tokens, total_attr, pc_attr, priced, latest in _rows(store, sql, params):
        kinds[str(kind)] = {"spans": int(spans), "tokens": int(tokens), "total_cost_attr": _dec(total_attr),
                            "prompt_completion_attr": _dec(pc_attr), "dictionary_price": _dec(priced)}
        latest = latest.floor("us").to_pydatetime() if hasattr(latest, "floor") else latest
        newest = latest if newest is None or latest > newest else newest
    unpriced_sql = f"""
    SELECT m, count(), sum(pt + ct), countIf(({t} = '') AND ({p} = '' AND {c} = ''))
    FROM (SELECT *, {DASHBOARD_MODEL_EXPRESSION} AS m, {_TOKENS.format('prompt_tokens')} AS pt,
                 {_TOKENS.format('completion_tokens')} AS ct FROM {database}.{TABLE} WHERE {where})
    WHERE m IS NOT NULL AND pt + ct > 0
    GROUP BY m HAVING sum(toDecimal64({udf['prompt']} + {udf['completion']}, 9)) = 0 ORDER BY count() DESC, m"""
    unpriced = [{"model": str(m), "spans": int(n), "tokens": int(tok), "spans_without_cost_attributes": int(bare)}
                for m, n, tok, bare in _rows(store, unpriced_sql, params)]
    return kinds, unpriced, newest


def _store_objects(store: Any, database: str) -> tuple[bool, bool]:
    dictionary = next(o.name for o in objects.OBJECTS if o.kind == "dictionary")
    rows = _rows(store, "SELECT count() FROM system.dictionaries WHERE database = {db:String} AND name = {n:String}",
                 {"db": database, "n": dictionary})
    funcs = _rows(store, "SELECT count() FROM system.functions WHERE name = 'normalize_model_name'", {})
    return bool(rows[0][0]), bool(funcs[0][0])


def _usd(value: Decimal) -> str:
    return f"USD {float(value):.7f}"


def _cost_reasons(kinds: Mapping[str, Mapping[str, Any]], unpriced: list[dict[str, Any]], dictionary: bool
                  ) -> tuple[str, ...]:
    why = []
    only_t = kinds.get("total_cost only")
    if only_t:
        why.append(f"project metrics ignores total_cost: {only_t['spans']} spans carry only total_cost "
                   f"({_usd(only_t['total_cost_attr'])}), which project metrics prices from the dictionary instead "
                   f"({_usd(only_t['dictionary_price'])})")
    only_pc = kinds.get("prompt/completion cost only")
    if only_pc:
        why.append(f"the trace list sums total_cost only: {only_pc['spans']} spans have none (their prompt + "
                   f"completion cost is {_usd(only_pc['prompt_completion_attr'])}; the trace list prices them from "
                   f"the dictionary: {_usd(only_pc['dictionary_price'])})")
    both = kinds.get("both")
    if both and both["total_cost_attr"] != both["prompt_completion_attr"]:
        why.append(f"{both['spans']} spans carry both, and their total_cost ({_usd(both['total_cost_attr'])}) is not "
                   f"their prompt + completion cost ({_usd(both['prompt_completion_attr'])})")
    if not dictionary:
        why.append("the store has no price dictionary: the real API answers 500 wherever it needs a price")
    for m in unpriced:
        why.append(f"no price row for {m['model']}: {m['spans']} spans, {m['tokens']} tokens priced 0 wherever the "
                   "dictionary is used")
    return tuple(why)


def trace_list_cost(store: Any, trace_id: str, *, database: str = DATABASE) -> Decimal:
    """The cost the trace list shows for one trace: each span's total_cost, else the dictionary's price."""
    dictionary, store_function = _store_objects(store, database)
    udf = {d: _udf(d, "pt" if d == "prompt" else "ct", database, dictionary=dictionary, store_function=store_function)
           for d in ("prompt", "completion")}
    t = _ATTR.format("total_cost")
    sql = f"""
    SELECT toString(sum(if({t} != '', toDecimal64OrZero({t}, 9),
                           toDecimal64({udf['prompt']} + {udf['completion']}, 9))))
    FROM (SELECT *, {DASHBOARD_MODEL_EXPRESSION} AS m, {_TOKENS.format('prompt_tokens')} AS pt,
                 {_TOKENS.format('completion_tokens')} AS ct
          FROM {database}.{TABLE} WHERE TraceId = {{trace:String}})"""
    ((value,),) = _rows(store, sql, {"trace": trace_id})
    return _dec(value)


def compute_views(store: Any, project_id: str, *, start: dt.datetime | None = None, end: dt.datetime | None = None,
                  free_plan: bool = False, now: dt.datetime | None = None, database: str = DATABASE
                  ) -> DashboardViews:
    """Both dashboard views for ``project_id`` over ``[start, end]`` (either may be None, as in the API).

    ``free_plan`` applies upstream's clamp of the project metrics window (the last 30 days before ``now``).
    """
    start, end = _naive_utc(start), _naive_utc(end)
    now = _naive_utc(now) or dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    dictionary, store_function = _store_objects(store, database)
    udf = {d: _udf(d, "pt" if d == "prompt" else "ct", database, dictionary=dictionary, store_function=store_function)
           for d in ("prompt", "completion")}
    notes = []
    m_start, m_end = start, end
    if free_plan:
        cutoff = now - dt.timedelta(days=FREEPLAN_METRICS_DAYS)
        m_start = max(start, cutoff) if start else cutoff
        m_end = max(end or now, cutoff)
        if (m_start, m_end) != (start, end):
            notes.append(f"free plan: project metrics use {m_start:%Y-%m-%d %H:%M} – {m_end:%Y-%m-%d %H:%M} UTC "
                         f"(the last {FREEPLAN_METRICS_DAYS} days), the trace list the window asked for")
    m_where, m_params = _where(project_id, m_start, m_end)
    t_where, t_params = _where(project_id, start, end)
    pm = _project_metrics(store, m_where, m_params, database, udf, m_start, m_end)
    tl = _trace_list(store, t_where, t_params, database, udf, start, end)
    kinds, unpriced, newest = _breakdown(store, t_where, t_params, database, udf)
    window_differs = ("the windows differ (free-plan clamp)",) if (m_start, m_end) != (start, end) else ()
    status_rule_pm = "spans by upper(StatusCode): OK / ERROR / anything else"
    status_rule_tl = "traces by their last span's StatusCode (upper-cased): OK / ERROR / anything else"
    rows = [
        ViewRow("traces", pm.trace_count, tl.trace_count, "distinct TraceId", "distinct TraceId", window_differs
                if pm.trace_count != tl.trace_count else ()),
        ViewRow("spans", pm.span_count, tl.span_count, "spans", "rows of the per-trace aggregate, i.e. traces",
                ("the trace list's span_count counts traces",) if pm.span_count != tl.span_count else ()),
        ViewRow("success", pm.success_count, tl.success_count, status_rule_pm, status_rule_tl,
                (("project metrics counts spans, the trace list counts traces by their last span",)
                 if pm.success_count != tl.success_count else ())),
        ViewRow("fail", pm.fail_count, tl.fail_count, status_rule_pm, status_rule_tl,
                (("project metrics counts spans, the trace list counts traces by their last span",)
                 if pm.fail_count != tl.fail_count else ())),
        ViewRow("prompt tokens", pm.prompt_tokens, tl.prompt_tokens, "sum of gen_ai.usage.prompt_tokens",
                "sum of gen_ai.usage.prompt_tokens", window_differs if pm.prompt_tokens != tl.prompt_tokens else ()),
        ViewRow("completion tokens", pm.completion_tokens, tl.completion_tokens,
                "sum of gen_ai.usage.completion_tokens", "sum of gen_ai.usage.completion_tokens",
                window_differs if pm.completion_tokens != tl.completion_tokens else ()),
        ViewRow("total tokens", pm.total_tokens, tl.total_tokens,
                "gen_ai.usage.total_tokens, else prompt + completion + cache read + reasoning",
                "prompt + completion + cache read + reasoning (total_tokens ignored)",
                ("project metrics takes gen_ai.usage.total_tokens where spans carry it",)
                if pm.total_tokens != tl.total_tokens else ()),
        ViewRow("total cost (USD)", pm.shown_cost, tl.shown_cost,
                "each span's prompt_cost + completion_cost; an empty one priced by calculate_*_cost (dictionary); "
                "total_cost ignored; 5 decimals",
                "each span's total_cost; where empty, calculate_prompt_cost + calculate_completion_cost; 7 decimals",
                _cost_reasons(kinds, unpriced, dictionary) if pm.total_cost != tl.total_cost or unpriced else ()),
    ]
    return DashboardViews(project_id, pm, tl, rows, kinds, unpriced, newest, notes)


# --------------------------------------------------------------------------- the API's own figures


@dataclass(frozen=True)
class DashboardSession:
    """A dashboard session cookie for one API (the value is a credential: never shown)."""

    api_url: str
    cookie: str = field(repr=False)

    def __repr__(self) -> str:
        return f"DashboardSession({self.api_url!r}, cookie=<hidden>)"


def open_dashboard_session(api_url: str, *, jwt_secret: str | SecretRef | None = None, user_id: str | None = None,
                           email: str | None = None, password: str | SecretRef | None = None,
                           timeout_s: float = 10.0) -> DashboardSession:
    """A session: mint an access token with ``jwt_secret`` (a secret reference) for ``user_id`` and trade it at
    ``POST /auth/session``; or sign in with ``email`` and ``password`` (a secret reference) at ``POST /auth/login``.
    Every value met on the way (secret, token, password, cookie) is registered for redaction."""
    from ..clients import dashboard_session as ds

    if jwt_secret is not None and user_id:
        secret = SecretRef.parse(jwt_secret, name="dashboard_jwt_secret").resolve()
        token = ds.mint_access_token(secret, user_id)
        remember_secret(token)
        cookie = ds.open_session(api_url, token, timeout_s=timeout_s)
    elif email and password is not None:
        value = SecretRef.parse(password, name="dashboard_password").resolve()
        cookie = ds.sign_in(api_url, email, value, timeout_s=timeout_s)
    else:
        raise ServiceError("no way to open a dashboard session",
                           hint="pass jwt_secret (a secret reference) and user_id, or email and password")
    remember_secret(cookie)
    return DashboardSession(api_url.rstrip("/"), cookie)


@dataclass(frozen=True)
class DashboardLogin:
    """The notebooks' ways to a dashboard session: a JWT secret reference + user id, or email + password
    reference (see :func:`open_dashboard_session`)."""

    jwt_secret: str | SecretRef | None = None
    user_id: str | None = None
    email: str | None = None
    password: str | SecretRef | None = None

    @property
    def given(self) -> bool:
        return bool((self.jwt_secret and self.user_id) or (self.email and self.password))

    def open(self, api_url: str | None, *, timeout_s: float = 10.0) -> DashboardSession | None:
        """``None`` without an API URL or a complete way in; else the session (ServiceError when refused)."""
        if not api_url or not self.given:
            return None
        return open_dashboard_session(api_url, jwt_secret=self.jwt_secret or None, user_id=self.user_id or None,
                                      email=self.email or None, password=self.password or None,
                                      timeout_s=timeout_s)


@dataclass(frozen=True)
class DashboardFigures:
    """What the real API answered: project metrics and trace list metrics, and when they were fetched."""

    project_metrics: dict[str, Any]
    trace_list_metrics: dict[str, Any]
    fetched_at: dt.datetime
    fetched_monotonic: float


def _iso(value: dt.datetime | None) -> str | None:
    value = _naive_utc(value)
    return None if value is None else value.isoformat() + "Z"


def fetch_dashboard_figures(session: DashboardSession, project_id: str, *, start: dt.datetime | None = None,
                            end: dt.datetime | None = None, timeout_s: float = 60.0) -> DashboardFigures:
    """``GET /v4/meterics/project/{id}`` and ``GET /v4/traces/list/{id}`` for the window, with the session."""
    import httpx

    params = {k: v for k, v in (("start_time", _iso(start)), ("end_time", _iso(end))) if v}
    headers = {"Cookie": f"session_id={session.cookie}"}
    answers = {}
    fetched_at = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    mono = time.monotonic()
    for name, path in (("metrics", f"/v4/meterics/project/{project_id}"), ("list", f"/v4/traces/list/{project_id}")):
        try:
            response = httpx.get(session.api_url + path, params=params, headers=headers, timeout=timeout_s)
        except httpx.HTTPError as exc:
            raise ServiceError(f"GET {path} failed: {type(exc).__name__}",
                               hint="check the API URL and that the API is running") from None
        if response.status_code != 200:
            raise ServiceError(f"GET {path} answered HTTP {response.status_code}: "
                               f"{redact(response.text[:200])}",
                               hint="a 500 here often means the store lacks the dashboard's ClickHouse objects "
                                    "(run the readiness checks); 401 means the session expired",
                               status_code=response.status_code)
        answers[name] = response.json()
    return DashboardFigures(answers["metrics"], answers["list"].get("metrics", {}), fetched_at, mono)


def cache_notes(views: DashboardViews, fetched: DashboardFigures | None = None, *,
                start: dt.datetime | None = None, end: dt.datetime | None = None) -> list[str]:
    """When the API's caches could have answered with older figures than the store holds now."""
    notes = []
    when = fetched.fetched_at if fetched else dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    newest = views.newest_span
    recent = newest is not None and (when - newest).total_seconds() < PROJECT_METRICS_CACHE_S
    if end is None or recent:
        notes.append(f"project metrics are cached {PROJECT_METRICS_CACHE_S} s per (project, start, end): an answer "
                     "up to 5 minutes old may have been served"
                     + (f"; the newest span ({newest:%H:%M:%S} UTC) is younger than that" if recent else
                        "; with no end time, spans stored since the cached answer are missing from it"))
    if start is not None or end is not None:
        notes.append(f"the trace list is cached {TRACE_LIST_CACHE_S} s for windowed requests (not 5 minutes)")
    return notes
