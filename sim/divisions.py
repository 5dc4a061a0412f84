"""The divisions (AdmDivCode) a simulator's config serves: the configured one and `divisions`.

A bank or a central-bank branch may serve several divisions' treasuries (004 part 3 §10): each
division is owed its own duties from the same day. `BankConfig` and `PbocConfig` share this.
"""

from __future__ import annotations

from sim.codec import repr_quiet_defaults

__all__ = ["ServesDivisions"]


class ServesDivisions:
    """Mixin of a frozen config dataclass (declared `repr=False`) with the fields `adm_div_code` and
    `divisions` (the others served, default empty)."""

    __slots__ = ()
    adm_div_code: str
    divisions: tuple[str, ...]

    def __repr__(self) -> str:
        """The generated one, without `divisions` when none: the snapshot fingerprint of a config of
        one division is what it was before they were configurable, so its saved snapshots load."""
        return repr_quiet_defaults(self, ("divisions",))

    @property
    def served(self) -> tuple[str, ...]:
        """Every division served: the configured one first, then `divisions` in their order."""
        return (self.adm_div_code, *(d for d in self.divisions if d != self.adm_div_code))

    def check_divisions(self) -> None:
        """`divisions` are distinct AdmDivCodes (AdmDivCodeType, xsd/common.xsd: 6 to 9 digits)."""
        if not all(isinstance(d, str) and 6 <= len(d) <= 9 and d.isdigit() for d in self.divisions) \
                or len(set(self.divisions)) != len(self.divisions):
            raise ValueError(f"divisions must be distinct AdmDivCodes of 6 to 9 digits, not {self.divisions!r}")
