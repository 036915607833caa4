"""How a dependent queue's active window grows and shrinks: pure arithmetic
over the pipeline's window settings.
"""

from __future__ import annotations

from dataclasses import dataclass

from trunkgate.config.sections import Window


@dataclass(frozen=True, slots=True)
class WindowPolicy:
    """`start` is where a new queue's window begins; it never leaves
    [floor, ceiling]. It grows by `increase` on each merge and is divided by
    `decrease_factor` on each failure.
    """

    start: int = 20
    floor: int = 3
    ceiling: int = 20
    increase: int = 1
    decrease_factor: int = 2

    def __post_init__(self) -> None:
        if not 1 <= self.floor <= self.start <= self.ceiling:
            raise ValueError(
                f"window needs 1 <= floor ({self.floor}) <= size ({self.start})"
                f" <= ceiling ({self.ceiling})"
            )
        if self.increase < 0 or self.decrease_factor < 1:
            raise ValueError("window increase must be >= 0 and decrease-factor >= 1")

    @classmethod
    def from_config(cls, window: Window, ceiling: int | None = None) -> WindowPolicy:
        """The config's size is both the start and, unless given, the ceiling.
        A floor above the size is lowered to the size."""
        floor = min(window.floor, window.size)
        top = window.size if ceiling is None else max(ceiling, window.size)
        return cls(
            start=window.size,
            floor=floor,
            ceiling=top,
            increase=window.increase,
            decrease_factor=window.decrease_factor,
        )

    def clamp(self, size: int) -> int:
        return max(self.floor, min(self.ceiling, size))

    def grown(self, size: int) -> int:
        return self.clamp(size + self.increase)

    def shrunk(self, size: int) -> int:
        return self.clamp(size // self.decrease_factor)


SERIAL_WINDOW = WindowPolicy(start=1, floor=1, ceiling=1, increase=0, decrease_factor=1)
