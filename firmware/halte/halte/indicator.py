"""LEDs and buzzer (machine.Pin, machine.PWM): the Pi station's signal patterns, played without
blocking (the main loop calls `tick()`; a new signal cuts the old one short)."""

TYPE_CHECKING = False
if TYPE_CHECKING:
    from machine import PWM, Pin

BEEP_HZ = 2700  # a typical passive piezo's loudest tone
# (green, red, beep, ms) steps: the same patterns as presensi.hardware.indicator.PATTERNS
PATTERNS = {
    "ready": ((1, 0, 0, 200),),
    "accepted_in": ((1, 0, 1, 150), (1, 0, 0, 1000)),
    "accepted_out": ((1, 0, 1, 150), (0, 0, 0, 100), (1, 0, 1, 150), (1, 0, 0, 900)),
    "duplicate": ((1, 1, 1, 500), (0, 0, 0, 200), (1, 1, 0, 500)),
    "rejected": (
        (0, 1, 1, 100),
        (0, 0, 0, 100),
        (0, 1, 1, 100),
        (0, 0, 0, 100),
        (0, 1, 1, 100),
        (0, 1, 0, 1000),
    ),
    "fault": ((0, 1, 1, 500), (0, 0, 0, 300), (0, 1, 1, 500), (0, 0, 0, 300), (0, 1, 0, 500)),
}


def signal_for(rec: dict[str, object]) -> str:
    if rec["outcome"] == "rejected":
        return "rejected"
    if rec["outcome"] == "duplicate":
        return "duplicate"
    return "accepted_out" if rec["direction"] == "out" else "accepted_in"


class Indicator:
    def __init__(self, green: Pin, red: Pin, buzzer: PWM) -> None:
        self.green = green
        self.red = red
        self.buzzer = buzzer
        self._steps: list[tuple[int, int, int, int]] = []
        self._until = 0
        self.shown: list[str] = []  # the last signals shown (self-test, tests)

    def show(self, name: str, now_ms: int) -> None:
        self.shown = (self.shown + [name])[-20:]
        self._steps = list(PATTERNS[name])
        self._until = now_ms
        self.tick(now_ms)

    def tick(self, now_ms: int) -> None:
        if now_ms < self._until:
            return
        if not self._steps:
            self._set(0, 0, 0)
            self._until = now_ms + 3_600_000
            return
        green, red, beep, ms = self._steps.pop(0)
        self._set(green, red, beep)
        self._until = now_ms + ms

    def _set(self, green: int, red: int, beep: int) -> None:
        self.green.value(green)
        self.red.value(red)
        self.buzzer.duty_u16(32768 if beep else 0)
