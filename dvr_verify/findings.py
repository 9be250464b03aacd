"""The one result type every check returns."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum


class Status(StrEnum):
    """Outcome of one check on one subject."""

    PASS = "pass"
    FAIL = "fail"
    WARN = "warn"
    NOT_VERIFIED = "not_verified"


@dataclass(frozen=True)
class Finding:
    """One verdict: what was checked where, what was expected, what was seen, how to confirm.

    `check` is the dotted check id (``fg.proxy_arp``); `subject` is what the verdict is about (a
    floating IP address, a router id, or a host); `hint` is the manual command that confirms it.
    """

    check: str
    status: Status
    subject: str
    node: str = ""
    namespace: str = ""
    device: str = ""
    expected: str = ""
    observed: str = ""
    hint: str = ""
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.status is Status.FAIL

    def as_dict(self) -> dict[str, str]:
        data = asdict(self)
        data["status"] = self.status.value
        return data

    def line(self) -> str:
        """One human line, as the report and pytest failure messages print it."""
        where = " ".join(p for p in (self.node, self.namespace, self.device) if p)
        text = f"[{self.status.value.upper()}] {self.check} {self.subject}"
        if where:
            text += f" @ {where}"
        if self.status is not Status.PASS:
            text += f": expected {self.expected or '-'}, observed {self.observed or '-'}"
            if self.detail:
                text += f" ({self.detail})"
            if self.hint:
                text += f"; confirm: {self.hint}"
        return text
