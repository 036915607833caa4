"""How a dependent queue's active window grows and shrinks: pure arithmetic
over the pipeline's window settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkgate.config.sections import Window, WindowChange

# A factor the config leaves out: one more or one less, or twice or half.
_DEFAULT_FACTOR: dict[WindowChange, int] = {"linear": 1, "exponential": 2}


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """`start` is where a new queue's window begins; it never leaves
    [floor, ceiling] (no ceiling when None). On each merge it grows by
    `increase_factor` (linear) or is multiplied by it (exponential); on each
    failure it shrinks by `decrease_factor` or is divided by it.
    """

    start: int = 20
    floor: int = 3
    ceiling: int | None = None
    increase_type: WindowChange = "linear"
    increase_factor: int = 1
    decrease_type: WindowChange = "exponential"
    decrease_factor: int = 2

    def __post_init__(self) -> None:
        top = self.start if self.ceiling is None else self.ceiling
        if not 1 <= self.floor <= self.start <= top:
            raise ValueError(
                f"window needs 1 <= floor ({self.floor}) <= start ({self.start})"
                f" <= ceiling ({self.ceiling})"
            )
        for kind, factor in (
            (self.increase_type, self.increase_factor),
            (self.decrease_type, self.decrease_factor),
        ):
            if factor < (1 if kind == "exponential" else 0):
                raise ValueError(f"window factor {factor} cannot be {kind}")

    @classmethod
    def from_config(cls, window: Window) -> WindowPolicy:
        return cls(
            start=window.start,
            floor=window.floor,
            ceiling=window.ceiling,
            increase_type=window.increase_type,
            increase_factor=_factor(window.increase_type, window.increase_factor),
            decrease_type=window.decrease_type,
            decrease_factor=_factor(window.decrease_type, window.decrease_factor),
        )

    def clamp(self, size: int) -> int:
        size = max(self.floor, size)
        return size if self.ceiling is None else min(self.ceiling, size)

    def grown(self, size: int) -> int:
        if self.increase_type == "linear":
            return self.clamp(size + self.increase_factor)
        return self.clamp(size * self.increase_factor)

    def shrunk(self, size: int) -> int:
        if self.decrease_type == "linear":
            return self.clamp(size - self.decrease_factor)
        return self.clamp(size // self.decrease_factor)


def _factor(kind: WindowChange, given: int | None) -> int:
    return _DEFAULT_FACTOR[kind] if given is None else given


SERIAL_WINDOW = WindowPolicy(
    start=1, floor=1, ceiling=1, increase_factor=0, decrease_type="linear", decrease_factor=0
)
