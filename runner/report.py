"""Reports of scenario runs: JUnit XML for CI, and one self-contained HTML page for people.

Both are pure functions of `RunResult` values (a scenario, what was observed, the outcomes).
The HTML needs no network: CSS inline, charts drawn here as inline SVG (no script, no font or
library from elsewhere), so it opens from a CI artifact or an e-mail the same way.

Charts: vouchers by hour and bank (stacked bars); the day against the cutoff (each payment
voucher as a dot at the time it reached the bank, coloured by how the bank paid it: cleared
the same day, advanced from the reserve, deferred to the next morning, with the filing time,
the clearing cutoff, the urgent cutoff and the bank's close drawn across); clearing against
quota per bank and day; the reconciliation, day by day, with its breaks listed under it.
"""

from __future__ import annotations

import datetime as dt
import html
import socket
import xml.etree.ElementTree as ET
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from business_time.clock import ClockConfig
from messages.money import fen_to_str
from runner.expectations import Outcome
from runner.observed import DayTotals, LevelVerdict, Observed
from runner.scenario_file import Expectation, Scenario, ScenarioError
from treasury_sim.scorecard import BankMonth

__all__ = ["RunResult", "demo_html", "html_report", "junit_xml", "scorecard_html", "signoff_html"]

PALETTE = ("#2f6fb0", "#d9822b", "#3a9a5b", "#a34ca3", "#c23b3b", "#6b6b6b", "#1f9aa6", "#8c6d1f")
MODE_COLOURS = {"clearing": "#3a9a5b", "advance": "#d9822b", "defer": "#c23b3b"}
CHART_DAYS_MAX = 10  # cutoff timelines drawn per report; a longer run shows its first days
BARS_MAX = 120  # hourly bars per chart; a longer run is cut there (the counts stay in the tables)


@dataclass(frozen=True, slots=True)
class RunResult:
    scenario: Scenario
    observed: Observed | None
    outcomes: tuple[Outcome, ...]
    elapsed_s: float = 0.0
    error: str | None = None  # the run itself failed (not an expectation)
    skipped: str | None = None  # the scenario could not run in this mode, and why (conformance mode)
    # expectations left out of the run, each with why (e.g. the books of the system under test)
    skipped_expectations: tuple[tuple[Expectation, str], ...] = ()
    notes: tuple[str, ...] = ()  # what the run wants a reader to know (e.g. a system that did not answer)
    # wall time the result was made, i.e. when the run ended (the JUnit `timestamp` is its start)
    ended_at: dt.datetime = field(default_factory=lambda: dt.datetime.now().astimezone())

    @property
    def started_at(self) -> dt.datetime:
        return self.ended_at - dt.timedelta(seconds=self.elapsed_s)

    @property
    def ok(self) -> bool:
        return self.error is None and all(o.ok for o in self.outcomes)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


# ---------------------------------------------------------------------------------- JUnit


def junit_xml(results: Sequence[RunResult], *, invalid: Sequence[ScenarioError] = ()) -> str:
    """One testsuite per scenario, one testcase per expectation; a run error is an <error>, and
    so is a file that could not be loaded (`invalid`: a testsuite named after the file, its
    `load` testcase listing every error of the file).

    Every element carries `time` (seconds), as CI readers expect (some show NaN or fail without
    it): a testsuite's is its scenario's run, the root's their sum; an expectation is judged
    after the run, so its testcase's is 0, while a `run` testcase (skipped, or the run's error)
    has the run's. Every testsuite has `timestamp` (when its run began, local time to the second
    without an offset: the JUnit schema's xs:dateTime pattern, which Jenkins, GitLab and GitHub
    readers parse) and `hostname` (the machine that ran it)."""
    def cases(r: RunResult) -> int:  # the testcases written below, one each
        return len(r.outcomes) + len(r.skipped_expectations) + (1 if r.skipped else 0) + (1 if r.error else 0)

    suites = ET.Element("testsuites", name="tgw scenarios", tests=str(sum(cases(r) for r in results) + len(invalid)),
                        failures=str(sum(len(r.failed) for r in results)),
                        errors=str(sum(1 for r in results if r.error) + len(invalid)),
                        skipped=str(sum(len(r.skipped_expectations) + (1 if r.skipped else 0) for r in results)),
                        time=_seconds(sum(r.elapsed_s for r in results)))
    host = socket.gethostname() or "localhost"
    loaded = dt.datetime.now().astimezone()
    for exc in invalid:
        suite = ET.SubElement(suites, "testsuite", name=exc.file, tests="1", failures="0", errors="1", skipped="0",
                              time=_seconds(0), timestamp=_timestamp(loaded), hostname=host, file=exc.file)
        case = ET.SubElement(suite, "testcase", classname="scenario.invalid", name="load", file=exc.file,
                             time=_seconds(0))
        lines = exc.lines()
        ET.SubElement(case, "error", message=lines[0][:500], type=exc.code).text = "\n".join(lines)
    for r in results:
        s = r.scenario
        suite = ET.SubElement(suites, "testsuite", name=s.name, tests=str(cases(r)),
                              failures=str(len(r.failed)), errors="1" if r.error else "0",
                              skipped=str(len(r.skipped_expectations) + (1 if r.skipped else 0)),
                              time=_seconds(r.elapsed_s), timestamp=_timestamp(r.started_at), hostname=host,
                              file=s.path)
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="title", value=s.title)
        ET.SubElement(props, "property", name="seed", value=str(r.observed.seed if r.observed else s.world.seed))
        for note in r.notes:
            ET.SubElement(props, "property", name="note", value=note)
        if r.skipped:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{s.name}", name="run", file=s.path,
                                 time=_seconds(r.elapsed_s))
            ET.SubElement(case, "skipped", message=r.skipped[:500])
        for e, why in r.skipped_expectations:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{s.name}", name=f"[{e.index}] {e.name}",
                                 file=s.path, line=str(e.line), time=_seconds(0))
            ET.SubElement(case, "skipped", message=why[:500])
        if r.error:
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{s.name}", name="run", file=s.path,
                                 time=_seconds(r.elapsed_s))
            ET.SubElement(case, "error", message=r.error.splitlines()[0][:500], type="run-error").text = r.error
        for o in r.outcomes:
            e = o.expectation
            case = ET.SubElement(suite, "testcase", classname=f"scenario.{s.name}", name=f"[{e.index}] {o.name}",
                                 file=s.path, line=str(e.line), time=_seconds(0))
            if not o.ok:
                text = [f"{s.path}:{e.line}: {o.name}", f"expected: {o.expected}", f"actual:   {o.actual}"]
                if o.voucher_key:
                    text.append(f"voucher:  {o.voucher} = {o.voucher_key}  trace: {o.trace_link}")
                text += [f"  {t.at}  {t.step:<12} {t.participant:<22} {t.detail}" for t in o.trace]
                if o.evidence:
                    text += ["seen:", *(f"  {line}" for line in o.evidence)]
                ET.SubElement(case, "failure", message=f"expected {o.expected}; actual {o.actual}"[:500],
                              type=e.kind).text = "\n".join(text)
    ET.indent(suites)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(suites, encoding="unicode") + "\n"


def _seconds(s: float) -> str:
    return f"{s:.3f}"


def _timestamp(at: dt.datetime) -> str:
    """ISO 8601 as the JUnit schema has it: local time, to the second, no offset."""
    return at.astimezone().strftime("%Y-%m-%dT%H:%M:%S")


# ---------------------------------------------------------------------------------- SVG helpers


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


class _Svg:
    def __init__(self, width: int, height: int, title: str) -> None:
        self.w, self.h = width, height
        self.parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="{width}" '
                      f'height="{height}" role="img" aria-label="{_e(title)}"><title>{_e(title)}</title>']

    def rect(self, x: float, y: float, w: float, h: float, fill: str, tip: str = "", opacity: float = 1.0) -> None:
        t = f"<title>{_e(tip)}</title>" if tip else ""
        self.parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(w, 0):.1f}" height="{max(h, 0):.1f}" '
                          f'fill="{fill}" fill-opacity="{opacity}">{t}</rect>')

    def line(self, x1: float, y1: float, x2: float, y2: float, stroke: str = "#999", dash: str = "",
             width: float = 1) -> None:
        d = f' stroke-dasharray="{dash}"' if dash else ""
        self.parts.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}" '
                          f'stroke-width="{width}"{d}/>')

    def circle(self, x: float, y: float, r: float, fill: str, tip: str = "") -> None:
        t = f"<title>{_e(tip)}</title>" if tip else ""
        self.parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{r}" fill="{fill}" fill-opacity="0.85">{t}</circle>')

    def text(self, x: float, y: float, s: str, size: int = 11, anchor: str = "start", fill: str = "#333",
             rotate: int = 0) -> None:
        rot = f' transform="rotate({rotate} {x:.1f} {y:.1f})"' if rotate else ""
        self.parts.append(f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
                          f'fill="{fill}"{rot}>{_e(s)}</text>')

    def legend(self, items: Sequence[tuple[str, str]], x: float, y: float) -> None:
        for label, colour in items:
            self.rect(x, y - 9, 10, 10, colour)
            self.text(x + 14, y, label)
            x += 24 + 7 * len(label)

    def done(self) -> str:
        return "".join([*self.parts, "</svg>"])


def _nice_max(v: float) -> float:
    if v <= 0:
        return 1
    step = 10 ** (len(str(int(v))) - 1)
    return float((int(v // step) + 1) * step)


def _axis(svg: _Svg, left: float, top: float, height: float, vmax: float, fmt: str = "{:g}") -> None:
    for i in range(5):
        v = vmax * i / 4
        y = top + height - height * i / 4
        svg.line(left, y, svg.w - 10, y, "#e3e3e3")
        svg.text(left - 4, y + 4, fmt.format(v), 10, "end", "#666")


# ---------------------------------------------------------------------------------- charts


def chart_vouchers_by_hour(o: Observed, bank_names: Sequence[str]) -> str:
    counts: dict[tuple[dt.date, int], dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for v in o.sent:
        if v.vtcode in ("5201", "8202") and v.flag == 0 and v.bank:
            counts[(v.sent_at.date(), v.sent_at.hour)][v.bank] += 1
    hours = sorted(counts)[:BARS_MAX]
    svg = _Svg(900, 260, "Payment vouchers sent, by hour and bank")
    if not hours:
        svg.text(450, 130, "no payment vouchers sent", 13, "middle", "#888")
        return svg.done()
    left, top, height = 44, 24, 180
    vmax = max(4.0, _nice_max(max(sum(c.values()) for c in counts.values())))
    _axis(svg, left, top, height, vmax)
    bw = (svg.w - left - 20) / len(hours)
    banks = sorted({b for c in counts.values() for b in c}, key=lambda b: (b not in bank_names, b))
    colour = {b: PALETTE[i % len(PALETTE)] for i, b in enumerate(banks)}
    for i, key in enumerate(hours):
        x = left + i * bw
        y = float(top + height)
        for b in banks:
            n = counts[key].get(b, 0)
            h = height * n / vmax
            y -= h
            svg.rect(x + 1, y, bw - 2, h, colour[b], f"{key[0]} {key[1]:02d}:00 {b}: {n}")
        if len(hours) <= 40 or i % max(1, len(hours) // 20) == 0:
            svg.text(x + bw / 2, top + height + 14, f"{key[1]:02d}h", 10, "middle", "#555")
        if i == 0 or hours[i - 1][0] != key[0]:
            svg.text(x + 2, top + height + 28, f"{key[0]:%m-%d %a}", 10, "start", "#555")
    svg.legend([(b, colour[b]) for b in banks], left, 14)
    return svg.done()


def chart_cutoff(o: Observed, scenario: Scenario) -> str:
    filing = sorted({b.filing_time for b in scenario.world.banks if b.filing_time}) or [dt.time(15, 30)]
    return cutoff_chart(o, scenario.world.clock, filing)


def cutoff_chart(o: Observed, cc: ClockConfig, filing: Sequence[dt.time]) -> str:
    """Each payment as a dot at the time it reached its bank, coloured by how it was paid, against
    the banks' filing times, the clearing and urgent cutoffs and the close."""
    days = sorted({p.received_at.date() for p in o.payments})[:CHART_DAYS_MAX]
    row_h, top, left = 34.0, 30.0, 86.0
    svg = _Svg(900, int(top + row_h * max(len(days), 1) + 40), "Payments against the cutoff")
    start_h, end_h = 8.0, 18.0

    def x_of(t: dt.time) -> float:
        hours = t.hour + t.minute / 60 + t.second / 3600
        return left + (svg.w - left - 20) * (min(max(hours, start_h), end_h) - start_h) / (end_h - start_h)

    for h in range(int(start_h), int(end_h) + 1):
        svg.line(x_of(dt.time(h)), top - 6, x_of(dt.time(h)), top + row_h * max(len(days), 1), "#eee")
        svg.text(x_of(dt.time(h)), top + row_h * max(len(days), 1) + 14, f"{h:02d}:00", 10, "middle", "#666")
    marks = [(t, f"filing {t:%H:%M}", "#2f6fb0", "2,3") for t in sorted(filing)]
    marks += [(cc.clearing_cutoff, f"cutoff {cc.clearing_cutoff:%H:%M}", "#c23b3b", ""),
              (cc.urgent_cutoff, f"urgent {cc.urgent_cutoff:%H:%M}", "#d9822b", "4,3"),
              (cc.bank_system_close, f"close {cc.bank_system_close:%H:%M}", "#333", "")]
    for i, (t, label, colour, dash) in enumerate(marks):
        x = x_of(t)
        svg.line(x, top - 8, x, top + row_h * max(len(days), 1), colour, dash, 1.5)
        svg.text(x + 3, top - 10 - 9 * (i % 2), label, 10, "start", colour)
    if not days:
        svg.text(svg.w / 2, top + 20, "no payments", 13, "middle", "#888")
    for r, day in enumerate(days):
        y = top + r * row_h + row_h / 2
        svg.text(left - 6, y + 4, f"{day:%m-%d %a}", 11, "end")
        svg.line(left, y, svg.w - 20, y, "#f0f0f0")
        for p in (p for p in o.payments if p.received_at.date() == day):
            jitter = (hash(p.voucher_no) % 9 - 4) * 1.6
            svg.circle(x_of(p.received_at.timetz().replace(tzinfo=None)), y + jitter, 3.5,
                       MODE_COLOURS.get(p.mode, "#666"),
                       f"{p.voucher_no} {p.bank} {fen_to_str(p.amount_fen)} at {p.received_at:%H:%M:%S}: {p.mode}")
    svg.legend([("paid, cleared same day", MODE_COLOURS["clearing"]), ("advanced from reserve", MODE_COLOURS["advance"]),
                ("deferred to next morning", MODE_COLOURS["defer"])], left, svg.h - 6)
    return svg.done()


def chart_quota(o: Observed, bank_label: dict[str, str]) -> str:
    rows = sorted(o.quotas, key=lambda q: (q.day, q.bank_code, q.pay_type, q.adm_div_code))[:40]
    several = len({q.adm_div_code for q in rows}) > 1  # then each line names its division
    row_h, top, left = 22, 26, 210
    svg = _Svg(900, top + row_h * max(len(rows), 1) + 30, "Clearing against quota per bank")
    if not rows:
        svg.text(svg.w / 2, top + 14, "no quota notices", 13, "middle", "#888")
        return svg.done()
    vmax = _nice_max(max(max(q.notified_fen, q.used_fen + q.replenished_fen) for q in rows) / 100)
    width = svg.w - left - 150  # room on the right for the "cleared / quota" label
    for r, q in enumerate(rows):
        y = top + r * row_h
        kind = "direct" if q.pay_type == "11" else "authorized"
        svg.text(left - 6, y + 14, f"{q.day:%m-%d} {bank_label.get(q.bank_code, q.bank_code)} {kind}"
                 + (f" {q.adm_div_code}" if several else ""), 11, "end")
        svg.rect(left, y + 3, width * q.notified_fen / 100 / vmax, row_h - 6, "#dfe7f1", f"quota {fen_to_str(q.notified_fen)}")
        svg.rect(left, y + 6, width * q.used_fen / 100 / vmax, row_h - 12, "#2f6fb0", f"cleared {fen_to_str(q.used_fen)}")
        svg.rect(left + width * q.used_fen / 100 / vmax, y + 6, width * q.replenished_fen / 100 / vmax, row_h - 12,
                 "#d9822b", f"replenished {fen_to_str(q.replenished_fen)}")
        over = q.used_fen + q.replenished_fen > q.notified_fen
        svg.text(left + width * max(q.notified_fen, q.used_fen + q.replenished_fen) / 100 / vmax + 4, y + 14,
                 f"{fen_to_str(q.used_fen + q.replenished_fen)} / {fen_to_str(q.notified_fen)}", 10, "start",
                 "#c23b3b" if over else "#555")
    svg.legend([("quota notified", "#dfe7f1"), ("cleared same day", "#2f6fb0"), ("replenished next morning", "#d9822b")],
               left, svg.h - 6)
    return svg.done()


def chart_reconciliation(o: Observed) -> str:
    rec = o.reconciliation
    days = list(rec.days)[:30] if rec else []
    svg = _Svg(900, 250, "Reconciliation by day")
    if not days:
        svg.text(450, 120, "no reconciliation", 13, "middle", "#888")
        return svg.done()
    series: list[tuple[str, str, Callable[[DayTotals], int]]] = [
        ("treasury receipts", "#2f6fb0", lambda d: d.treasury_receipts_fen),
        ("bank payments", "#1f9aa6", lambda d: d.bank_paid_fen),
        ("bank clearings", "#3a9a5b", lambda d: d.bank_cleared_fen),
        ("TSA debits", "#a34ca3", lambda d: d.pboc_debits_fen)]
    left, top, height = 80, 26, 170
    vmax = _nice_max(max(f(d) for d in days for _, _, f in series) / 100)
    _axis(svg, left, top, height, vmax, "{:,.0f}")
    gw = (svg.w - left - 20) / len(days)
    bw = gw * 0.8 / len(series)
    broken = {b.day for b in rec.breaks} if rec else set()
    for i, d in enumerate(days):
        x0 = left + i * gw + gw * 0.1
        for j, (label, colour, f) in enumerate(series):
            h = height * f(d) / 100 / vmax
            svg.rect(x0 + j * bw, top + height - h, bw - 1, h, colour, f"{d.day} {label}: {fen_to_str(f(d))}")
        svg.text(left + i * gw + gw / 2, top + height + 14, f"{d.day:%m-%d}", 10, "middle",
                 "#c23b3b" if d.day in broken else "#555")
    svg.legend([(label, colour) for label, colour, _ in series], left, 14)
    return svg.done()


# ---------------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI","Noto Sans CJK SC",sans-serif;margin:24px;color:#222;
     background:#fafafa;max-width:1000px}
h1{font-size:22px;margin:0 0 4px} h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.sub{color:#666;margin:0 0 14px}
.cards{display:flex;gap:12px;flex-wrap:wrap;margin:12px 0}
.card{background:#fff;border:1px solid #ddd;border-radius:6px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:22px}
.ok{color:#1d7a3e} .fail{color:#b42323}
table{border-collapse:collapse;width:100%;background:#fff;font-size:13px;margin:6px 0}
th,td{border:1px solid #e1e1e1;padding:4px 6px;text-align:left;vertical-align:top}
th{background:#f1f3f5} td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.failrow td{background:#fff3f3}
.badge{display:inline-block;padding:1px 7px;border-radius:9px;font-size:12px;color:#fff}
.badge.ok{background:#2e8b57} .badge.fail{background:#c23b3b}
.chart{background:#fff;border:1px solid #ddd;border-radius:6px;padding:6px;margin:8px 0;overflow-x:auto}
code{font-size:12px;background:#f1f1f1;padding:0 3px}
details{margin:6px 0} summary{cursor:pointer}
"""


def _scenario_section(r: RunResult, index: int) -> str:
    s, o = r.scenario, r.observed
    out = [f'<section id="s{index}"><h2><span class="badge {"ok" if r.ok else "fail"}">'
           f'{"SKIPPED" if r.skipped else "PASS" if r.ok else "FAIL"}</span> {_e(s.name)}</h2>',
           f'<p class="sub">{_e(s.title)} · <code>{_e(s.path)}</code> · seed {s.world.seed} · '
           f'{s.world.start:%Y-%m-%d %H:%M} → {s.end:%Y-%m-%d %H:%M} · {r.elapsed_s:.1f} s</p>']
    if s.description:
        out.append(f"<p>{_e(s.description)}</p>")
    if r.error:
        out.append(f'<p class="fail"><b>The run failed:</b> <code>{_e(r.error)}</code></p>')
    if r.skipped:
        out.append(f"<p><b>Skipped:</b> {_e(r.skipped)}</p>")
    out += [f"<p><b>Note:</b> {_e(n)}</p>" for n in r.notes]
    if r.skipped_expectations:
        out.append("<p><b>Not checked in this mode:</b></p><ul>")
        out += [f"<li>[{e.index}] {_e(e.name)} (line {e.line}): {_e(why)}</li>" for e, why in r.skipped_expectations]
        out.append("</ul>")
    out.append("<h3>Expectations</h3><table><tr><th>#</th><th>expectation</th><th>deadline</th><th>result</th>"
               "<th>expected</th><th>actual</th></tr>")
    for oc in r.outcomes:
        e = oc.expectation
        link = f' <a href="#s{index}-f{e.index}">trace</a>' if not oc.ok and oc.voucher_key else ""
        out.append(f'<tr class="{"" if oc.ok else "failrow"}"><td>{e.index}</td><td>{_e(oc.name)}'
                   f'<br><small>line {e.line}</small></td><td>{_e(("< " if e.strict else "") + f"{e.by:%m-%d %H:%M}" if e.by else "end")}</td>'
                   f'<td class="{"ok" if oc.ok else "fail"}">{"pass" if oc.ok else "FAIL"}{link}</td>'
                   f"<td>{_e(oc.expected)}</td><td>{_e(oc.actual)}</td></tr>")
    out.append("</table>")
    failures = [oc for oc in r.outcomes if not oc.ok]
    if failures:
        out.append("<h3>Failures and their traces</h3>")
        for oc in failures:
            e = oc.expectation
            out.append(f'<div id="s{index}-f{e.index}"><p><b class="fail">{_e(oc.name)}</b> '
                       f"(<code>{_e(s.path)}:{e.line}</code>)<br>expected: {_e(oc.expected)}<br>"
                       f"actual: {_e(oc.actual)}")
            if oc.voucher_key:
                out.append(f"<br>voucher <code>{_e(oc.voucher)}</code> = <code>{_e(oc.voucher_key)}</code>, "
                           f"trace <code>{_e(oc.trace_link)}</code>")
            out.append("</p>")
            if oc.evidence:
                out.append("<p>seen:</p><ul>" + "".join(f"<li><code>{_e(line)}</code></li>" for line in oc.evidence)
                           + "</ul>")
            if oc.trace:
                out.append("<table><tr><th>business time</th><th>step</th><th>participant</th><th>detail</th></tr>")
                out += [f"<tr><td>{_e(t.at)}</td><td>{_e(t.step)}</td><td>{_e(t.participant)}</td>"
                        f"<td>{_e(t.detail)}</td></tr>" for t in oc.trace]
                out.append("</table>")
            out.append("</div>")
    if o is not None:
        labels = {b.code: b.id for b in s.world.banks}
        out.append("<h3>Vouchers by hour and bank</h3>")
        out.append(f'<div class="chart">{chart_vouchers_by_hour(o, [b.id for b in s.world.banks])}</div>')
        out.append("<h3>The cutoff and the advances</h3>")
        out.append(f'<div class="chart">{chart_cutoff(o, s)}</div>')
        out.append("<h3>Clearing against quota</h3>")
        out.append(f'<div class="chart">{chart_quota(o, labels)}</div>')
        out.append("<h3>Reconciliation</h3>")
        out.append(f'<div class="chart">{chart_reconciliation(o)}</div>')
        rec = o.reconciliation
        if rec is not None:
            if rec.clean:
                out.append('<p class="ok">Clean: treasury, banks and central bank agree on every voucher, day '
                           "and month.</p>")
            else:
                out.append("<table><tr><th>cause</th><th>day</th><th>vouchers</th><th>detail</th></tr>")
                out += [f"<tr><td>{_e(b.cause)}</td><td>{_e(b.day or b.period)}</td>"
                        f"<td>{_e(', '.join(b.vouchers[:8]))}{' …' if len(b.vouchers) > 8 else ''}</td>"
                        f"<td>{_e(b.detail)}</td></tr>" for b in rec.breaks[:200]]
                out.append("</table>")
            if rec.months:
                out.append("<table><tr><th>month</th><th>treasury receipts</th><th>bank clearings</th>"
                           "<th>TSA debits</th></tr>")
                out += [f'<tr><td>{m}</td><td class="num">{fen_to_str(a)}</td><td class="num">{fen_to_str(b)}</td>'
                        f'<td class="num">{fen_to_str(c)}</td></tr>' for m, a, b, c in rec.months]
                out.append("</table>")
        if o.signoffs:
            out.append("<h3>Monthly reconciliation and sign-off</h3>")
            out += signoff_html(o.signoffs)
        if o.scorecard:
            out.append("<h3>Bank scorecard</h3>")
            out += scorecard_html(o.scorecard)
    out.append("</section>")
    return "".join(out)


def html_report(results: Sequence[RunResult], *, title: str = "Scenario report",
                invalid: Sequence[ScenarioError] = ()) -> str:
    """One self-contained HTML page: summary, then per scenario its expectations, failures with
    traces and charts; files that could not be loaded (`invalid`) first, with their errors."""
    total = sum(len(r.outcomes) for r in results)
    failed = sum(len(r.failed) for r in results)
    passed_runs = sum(1 for r in results if r.ok)
    rows = "".join(
        f'<tr class="{"" if r.ok else "failrow"}"><td><a href="#s{i}">{_e(r.scenario.name)}</a></td>'
        f"<td>{_e(r.scenario.title)}</td><td class=\"num\">{len(r.outcomes) - len(r.failed)}/{len(r.outcomes)}</td>"
        f'<td class="{"ok" if r.ok else "fail"}">{"skipped" if r.skipped else "pass" if r.ok else "FAIL"}</td></tr>'
        for i, r in enumerate(results))
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="sub">{len(results)} scenarios · {total} expectations · generated by <code>tgw scenario run'
            "</code></p>",
            '<div class="cards">'
            f'<div class="card">scenarios passed<b class="{"ok" if passed_runs == len(results) else "fail"}">'
            f"{passed_runs}/{len(results)}</b></div>"
            f'<div class="card">expectations held<b class="{"ok" if not failed else "fail"}">{total - failed}/{total}'
            "</b></div>"
            f'<div class="card">vouchers sent<b>{sum(len(r.observed.sent) for r in results if r.observed)}</b></div>'
            f'<div class="card">reconciliation breaks<b>'
            f"{sum(len(r.observed.reconciliation.breaks) for r in results if r.observed and r.observed.reconciliation)}"
            "</b></div></div>",
            "<h2>Summary</h2><table><tr><th>scenario</th><th>title</th><th>held</th><th>result</th></tr>"
            f"{rows}</table>"]
    if invalid:
        body.append("<h2>Files not run: not valid</h2>")
        body += [f'<p class="fail"><b>{_e(exc.file)}</b></p><ul>'
                 + "".join(f"<li><code>{_e(line)}</code></li>" for line in exc.lines()) + "</ul>" for exc in invalid]
    body += [_scenario_section(r, i) for i, r in enumerate(results)]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")


# ---------------------------------------------------------------------------------- the scorecard

_SCORE_COLUMNS = ("duty", "counted", "on time", "late", "missing", "bdays late", "errors", "faulty", "pending",
                  "points off")


def scorecard_html(cards: Sequence[BankMonth]) -> list[str]:
    """The bank scorecard (treasury_sim.scorecard), one table per bank and month, flags in red."""
    out = ["<p>Per bank per month, from what actually happened (财库[2008]62号; 004 part 3 §13): a duty is late "
           "when its message left the bank after its deadline; three late in a category in a month, or more "
           "than three errors, and the bank is flagged for rectification.</p>"]
    for card in cards:
        badge = '<span class="badge fail">FLAGGED</span> ' if card.flagged else '<span class="badge ok">ok</span> '
        out.append(f"<p>{badge}<b>{_e(card.bank)}</b> {card.year:04d}-{card.month:02d}: score "
                   f"<b>{card.score}</b>/{card.max_points} · on time {card.timeliness_pct}% · accurate "
                   f"{card.accuracy_pct}% · {card.size} bank</p>")
        out.append("<table><tr>" + "".join(f"<th>{_e(c)}</th>" for c in _SCORE_COLUMNS) + "</tr>")
        for line in card.lines:
            cells = (line.counted, line.on_time, line.late, line.missing, line.business_days_late, line.errors,
                     line.faulty, line.pending, line.deducted)
            bad = line.late or line.errors or line.faulty
            out.append(f'<tr class="{"failrow" if bad else ""}"><td>{_e(line.kind)}</td>'
                       + "".join(f'<td class="num">{c}</td>' for c in cells) + "</tr>")
        out.append("</table>")
        out += [f'<p class="fail">{_e(flag)}</p>' for flag in card.flags]
    return out


_LEVEL_TITLES = {"bank-treasury": "bank ↔ treasury (3501)", "bank-unit": "bank ↔ units (7104)",
                 "bank-pboc": "bank ↔ central bank (clearings, refunds, 7203)",
                 "treasury-pboc": "treasury ↔ central bank (TSA movements, 7401)"}
_VERDICT_CLASS = {"agreed": "ok", "differs": "fail", "missing": "fail", "not-due": ""}


def signoff_html(verdicts: Sequence[LevelVerdict]) -> list[str]:
    """The monthly sign-off (runner.monthly_signoff): one table per month and level, each verdict
    with its statements, the books against the statement, the sign-off and its breaks."""
    out = ["<p>对账签证 (003 §40, 004 part 3 §10(3)): each month, at each level, what the statements say against "
           "the other side's books; a difference is a break naming its vouchers and the fen, never netted away "
           "(docs/reconciliation.md).</p>"]
    groups: dict[tuple[str, str], list[LevelVerdict]] = defaultdict(list)
    for v in verdicts:
        groups[(v.month, v.level)].append(v)
    several = len({v.adm for v in verdicts if v.adm}) > 1  # divisions named when there are two or more
    for (month, level), rows in groups.items():
        out.append(f"<p><b>{_e(month)}</b> · {_e(_LEVEL_TITLES.get(level, level))}</p>")
        out.append("<table><tr><th>bank</th><th>unit</th><th>verdict</th><th>statements</th><th>books</th>"
                   "<th>stated</th><th>signed off</th><th>breaks</th></tr>")
        for v in rows:
            signed = {True: "yes", False: "no: " + v.sign_remark, None: "-"}[v.signed_off]
            breaks = "<br>".join(f"{_e(b.cause)}: {_e(b.detail)}" + (f" [{_e(', '.join(b.vouchers[:8]))}"
                                 f"{' …' if len(b.vouchers) > 8 else ''}]" if b.vouchers else "")
                                 for b in v.breaks[:50])
            if v.timing:
                breaks += ("<br>" if breaks else "") + "timing: " + _e("; ".join(v.timing[:10]))
            out.append(f'<tr class="{"failrow" if v.verdict in ("differs", "missing") else ""}">'
                       f"<td>{_e(v.bank or '-')}{_e(f' · {v.adm}') if several and v.adm else ''}</td>"
                       f"<td>{_e(v.unit or '-')}</td>"
                       f'<td class="{_VERDICT_CLASS[v.verdict]}">{_e(v.verdict)}{" (late)" if v.late else ""}</td>'
                       f"<td>{_e(', '.join(v.statements[:5]))}</td><td class=\"num\">{fen_to_str(v.books_fen)}</td>"
                       f'<td class="num">{"-" if v.stated_fen is None else fen_to_str(v.stated_fen)}</td>'
                       f"<td>{_e(signed)}</td><td>{breaks}</td></tr>")
        out.append("</table>")
    return out


# ---------------------------------------------------------------------------------- tgw demo


def _reconciliation_tables(o: Observed) -> list[str]:
    rec = o.reconciliation
    if rec is None:
        return ["<p>No reconciliation.</p>"]
    out = []
    if rec.clean:
        out.append('<p class="ok"><b>Clean:</b> treasury, banks and central bank agree on every voucher, day and '
                   "month.</p>")
    else:
        out.append(f'<p class="fail"><b>{len(rec.breaks)} breaks</b>, each with its vouchers and cause (never netted '
                   "away):</p><table><tr><th>cause</th><th>day</th><th>vouchers</th><th>detail</th></tr>")
        out += [f"<tr><td>{_e(b.cause)}</td><td>{_e(b.day or b.period)}</td>"
                f"<td>{_e(', '.join(b.vouchers[:8]))}{' …' if len(b.vouchers) > 8 else ''}</td>"
                f"<td>{_e(b.detail)}</td></tr>" for b in rec.breaks[:200]]
        out.append("</table>")
    out.append("<table><tr><th>day</th><th>treasury sent</th><th>treasury receipts</th><th>bank payments</th>"
               "<th>bank clearings</th><th>TSA debits</th><th>7401 DebitAmt</th></tr>")
    out += [f'<tr><td>{d.day:%Y-%m-%d %a}</td><td class="num">{fen_to_str(d.treasury_sent_fen)}</td>'
            f'<td class="num">{fen_to_str(d.treasury_receipts_fen)}</td><td class="num">{fen_to_str(d.bank_paid_fen)}</td>'
            f'<td class="num">{fen_to_str(d.bank_cleared_fen)}</td><td class="num">{fen_to_str(d.pboc_debits_fen)}</td>'
            f'<td class="num">{"-" if d.statement_debits_fen is None else fen_to_str(d.statement_debits_fen)}</td></tr>'
            for d in rec.days]
    out.append("</table><table><tr><th>month</th><th>treasury receipts</th><th>bank clearings</th>"
               "<th>TSA debits</th></tr>")
    out += [f'<tr><td>{m}</td><td class="num">{fen_to_str(a)}</td><td class="num">{fen_to_str(b)}</td><td class="num">{fen_to_str(c)}</td>'
            "</tr>" for m, a, b, c in rec.months]
    out.append("</table>")
    return out


def demo_html(report: Mapping[str, Any], o: Observed, cc: ClockConfig, filing: Sequence[dt.time]) -> str:
    """The page `tgw demo --html` writes: one self-contained file (inline CSS and SVG, no script),
    the charts first, then the reconciliation, the invariants and the days in numbers."""
    run = report.get("run", {})
    inv = report.get("invariants", {})
    rec = o.reconciliation
    held = sum(1 for i in inv.values() if i["ok"])
    paid = [p for p in o.payments if p.paid_day is not None]
    advances = [p for p in paid if p.mode == "advance"]
    banks = sorted({p.bank for p in o.payments} | {v.bank for v in o.sent if v.bank})
    labels = {p.bank_code: p.bank for p in o.payments}
    days = ", ".join(run.get("days", []))
    # a run ending on the calendar's last day has no replenishment morning: its checks not judged (runner.last_day)
    not_judged = report.get("not_judged") or []
    replenish = f"+ replenishment on {run['replenishment_day']}" if run.get("replenishment_day") else \
        "the last the calendar knows: no replenishment morning"
    rec_clean = bool(rec and rec.clean) or bool(not_judged and inv.get("reconciliation_clean", {}).get("ok"))
    title = "tgw demo: the treasury, two banks and the central bank through the gateway"
    body = [f"<h1>{_e(title)}</h1>",
            f'<p class="sub">seed {_e(run.get("seed", o.seed))} · {_e(run.get("vouchers_per_day", ""))} vouchers per '
            f'business day · days {_e(days)} ({_e(replenish)}) · '
            f'{_e(run.get("elapsed_s", ""))} s · journal digest <code>{_e(str(run.get("journal_digest", ""))[:16])}'
            "</code></p>",
            '<div class="cards">'
            f'<div class="card">vouchers sent<b>{len(o.sent)}</b></div>'
            f'<div class="card">paid<b>{fen_to_str(sum(p.amount_fen for p in paid))}</b></div>'
            f'<div class="card">advances from the reserve<b>{len(advances)}</b></div>'
            f'<div class="card">invariants held<b class="{"ok" if held == len(inv) else "fail"}">{held}/{len(inv)}'
            "</b></div>"
            f'<div class="card">reconciliation<b class="{"ok" if rec_clean else "fail"}">'
            f'{"clean" if rec_clean else f"{len(rec.breaks) if rec else 0} breaks"}</b></div></div>',
            *([f"<p>Not judged ({_e(not_judged[0]['wanted'])} is past the calendar): "
               + "; ".join(_e(f"{n['check']}: {n['detail']}") for n in not_judged) + "</p>"] if not_judged else []),
            "<h2>Vouchers by hour and bank</h2>",
            f'<div class="chart">{chart_vouchers_by_hour(o, banks)}</div>',
            "<h2>The cutoff and the advances</h2>",
            "<p>Each payment at the time it reached its bank: paid before the clearing cutoff it is cleared the "
            "same day; after it, it is advanced from the clearing reserve and replenished the next business "
            "morning.</p>",
            f'<div class="chart">{cutoff_chart(o, cc, filing)}</div>',
            "<h2>Clearing against quota per bank</h2>",
            f'<div class="chart">{chart_quota(o, labels)}</div>',
            "<h2>Three-way reconciliation</h2>",
            "<p>The treasury's vouchers and receipts ↔ the banks' payments and clearing requests ↔ the central "
            "bank's TSA movements and daily 7401 statements, by day and by month.</p>",
            f'<div class="chart">{chart_reconciliation(o)}</div>',
            *_reconciliation_tables(o),
            *(["<h2>Bank scorecard</h2>", *scorecard_html(o.scorecard)] if o.scorecard else []),
            "<h2>Invariants</h2><table><tr><th>invariant</th><th>held</th><th>detail</th></tr>",
            *[f'<tr class="{"" if i["ok"] else "failrow"}"><td>{_e(n)}</td>'
              f'<td class="{"ok" if i["ok"] else "fail"}">{"yes" if i["ok"] else "NO"}</td><td>{_e(i["detail"])}</td>'
              "</tr>" for n, i in inv.items()],
            "</table>",
            "<h2>Per business day</h2><table><tr><th>day</th><th>sent</th><th>paid</th><th>paid amount</th>"
            "<th>advances</th><th>cleared</th><th>replenished</th><th>TSA debits</th><th>7401 EndBalance</th>"
            "<th>ZBA = 0 at close</th></tr>",
            *[f'<tr><td>{_e(d["date"])} {_e(d["weekday"])}</td><td class="num">{d["vouchers_sent"]}</td>'
              f'<td class="num">{d["paid"]}</td><td class="num">{_e(d["paid_amount"])}</td>'
              f'<td class="num">{d["advances"]}</td><td class="num">{_e(d["cleared_amount"])}</td>'
              f'<td class="num">{_e(d["replenished_amount"])}</td><td class="num">{_e(d["tsa_debits"])}</td>'
              f'<td class="num">{_e(d["statement_end_balance"] or "-")}</td>'
              f'<td class="{"ok" if d["zero_balance_accounts_at_zero"] else "fail"}">'
              f'{"yes" if d["zero_balance_accounts_at_zero"] else "NO"}</td></tr>' for d in report.get("days", [])],
            "</table>"]
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{_e(title)}</title>"
            f"<style>{_CSS}</style></head><body>{''.join(body)}</body></html>\n")
