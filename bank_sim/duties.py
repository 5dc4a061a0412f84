"""What an agent bank owes after it pays, as the runner and the scorecard see it.

The duties themselves are modules of functions over the bank's state record
(`bank_sim.state.DutiesState`, kept in `BankState.duties`):

* **Payee returns** (`bank_sim.payee_refunds`): a payment returned by its payee's bank is
  refunded to the central bank (2302) once its clearing was accepted; the refund notice
  (2203 / 7105) goes to the treasury when the refund is cleared (003 §36).
* **Reports** (`bank_sim.reporting`): the daily 2206, the monthly 4004, 3501 and 7104s, the
  clearing reserve statement (7203), the credit notices (7103) and the treasury's sign-offs.
* **Transfer times** (`bank_sim.transfers`): each receipt carries XArriveDate (`bank_sim.payments`).
* **The profile** (`bank_sim.outgoing`, `bank_sim.profiles`): sends held, faulted and corrected.
* **Duties done** (`sent`, `refusals`): when each message actually left, and the codes it
  was refused with, for the scorecard (`runner.scorecard_feed`).

`Duties` is the public read-only view of them a `BankCore` gives (`core.duties`).
"""

from __future__ import annotations

from bank_sim.config import DutiesConfig
from bank_sim.outgoing import send_kind
from bank_sim.refunds import PayeeReturn
from bank_sim.reporting import credit_notice_no
from bank_sim.state import DutiesState, Payment, Refund

__all__ = ["Duties", "DutiesConfig", "PayeeReturn", "Refund", "send_kind"]


class Duties:
    """A bank's duties as the runner and the scorecard read them: the record `s`."""

    __slots__ = ("s",)

    def __init__(self, s: DutiesState) -> None:
        self.s = s

    @staticmethod
    def credit_notice_no(p: Payment) -> str:
        """The VoucherNo of the credit notice (7103) of direct payment `p`."""
        return credit_notice_no(p)
