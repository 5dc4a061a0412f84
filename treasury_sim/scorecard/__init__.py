"""The bank scorecard (代理银行综合考评): per bank per month, from what actually happened.

Pure: a function of duty events, the business calendar and the rules; it never reads a clock.
Imports only `business_time` and `messages`, so any core, the runner or a report can use it.

**Sources.** 财库[2008]62号 (seed 004 part 1): agent banks are evaluated on timeliness, accuracy
and completeness, with points deducted per occurrence, banks with a large share of the business
at the lower bound and the others at the upper one. The agency agreement (004 part 3 §13(5))
names what is counted per month and when the bank must rectify (整改) within a month:

| category   | what is counted                                               | stage 1, in a month            | stage 2, after it   |
|------------|---------------------------------------------------------------|--------------------------------|---------------------|
| `payment`  | units' complaints about a payment                             | 3 or more (§13(5)1)            | any again           |
| `feedback` | late receipt, daily-report, monthly-report, monthly-statement | 3 or more (§13(5)2)            | any again           |
| `accuracy` | any duty done inaccurately, or a refused / faulty message     | more than 3 (§13(5)3)          | more than 1         |
| `notice`   | units' complaints about a credit-notice, quota-arrival-notice | 3 or more (§13(5)4)            | any again           |
|            | or refund-notice (the last is the project's own addition)     |                                |                     |
| `custody`  | vouchers lost (`Incident` "lost-voucher")                     | 4 or more (§13(5)5)            | any again           |
| `clearing` | late clearing, late or missing replenishment (§9(12))         | 3 or more (§13(5)6)            | any again           |
| `account`  | accounts opened, changed or closed without the treasury's     | 3 or more (§13(5)7)            | any again           |
|            | notice (`Incident` "account-without-notice")                  |                                |                     |

**Complaints.** The simulated budget unit complains about every payment or notice of its that
was late (or never came): `DutyEvent.complained` None means just that; True / False overrides
it (a unit that complained of an on-time duty, or let a late one pass).

**Stages, carried across months** (§13(5): "应在1个月内整改, 若整改后仍出现…"): the first month a
category reaches its stage-1 count the bank must rectify within a month (stage 1); from the
month after that on, a recurrence (the stage-2 column; the seed's item 5 and 7 name no second
stage, the project applies the same one) puts the bank's agency at risk (stage 2, "取消其代理
…资格": the treasury decides, the card only says so). A stage stays until the end of the
events given (the cards of one year: `annual`).

**Size** (004 part 1 三): a bank's share of the business is the arithmetic mean of its share of
the amount paid and its share of the count; above the average share (1 / number of banks) it
is large and deducted at the lower bound, otherwise (at or below the average) at the upper one
(`bank_sizes`).

**Annual view** (62号 is a "年度综合考评"): `annual` sums a bank's months of one year: every
deduction, the late / complaint / incident counts and the furthest stage reached.

**Events.** One `DutyEvent` per duty the bank had: what (kind, ref), when it was due (from the
`business_time.clock` deadline functions: `due_time` picks the right one), when it was done
(None: not done), whether what it sent was accurate, and whether a message of it was refused or
faulty (bad signature, wrong sums, duplicate send, missing X-fields, refused by the gateway, the
central bank or the treasury). A duty counts in the month of its due time.

**Score.** The seeds give no point values: every value in `ScoringRules` (the one table) is the
project's own default. `max_points` (100) less the deductions, never below 0:

* a late duty (the agreement's times of day are "before", 16:00前 / 10:00之前 / 11:00之前: done
  at the instant itself is late; "within n working days" ends with the n-th day's last instant):
  `late` points, plus `per_business_day_late` for each business day late (counted
  with the business calendar, so a holiday between the deadline and the delivery does not count),
  at most `late_cap` for one duty;
* a duty not done by `as_of` although due: `missing` (at least `late_cap`: never cheaper than
  being late); a duty due after `as_of` is pending and not counted;
* an inaccurate duty: `error`; a refused or faulty message: `faulty` (charged whether the duty
  was on time, late, missing or pending);
* a lost voucher: `lost_voucher`; an account without the treasury's notice: `account_without_notice`;
* each category flagged in the month (reaching stage 1, or recurring in stage 2): `flag`.

So more lateness never raises a score, and a score is never above `max_points`.
**Modules.** `rules` (the kinds, categories and `ScoringRules`, the one table), `duties`
(`DutyEvent`, `Incident`, `due_time`, `bank_sizes`), `cards` (`DutyLine`, `BankMonth`),
`stages` (complaints, the §13(5) stages and flags), `month` (`score_month`, `scorecard`),
`annual` (`BankYear`, `annual`) and `render` (text and JSON). Import from this package.
"""

from treasury_sim.scorecard.annual import BankYear, annual
from treasury_sim.scorecard.cards import BankMonth, DutyLine
from treasury_sim.scorecard.duties import DutyEvent, Incident, bank_sizes, business_days_late, due_time
from treasury_sim.scorecard.month import score_month, scorecard
from treasury_sim.scorecard.render import render_json, render_text
from treasury_sim.scorecard.rules import CATEGORY_OF, DUTY_KINDS, RULES, Deduction, DutyKind, ScoringRules

__all__ = [
    "CATEGORY_OF",
    "DUTY_KINDS",
    "RULES",
    "BankMonth",
    "BankYear",
    "Deduction",
    "DutyEvent",
    "DutyKind",
    "DutyLine",
    "Incident",
    "ScoringRules",
    "annual",
    "bank_sizes",
    "business_days_late",
    "due_time",
    "render_json",
    "render_text",
    "score_month",
    "scorecard",
]
