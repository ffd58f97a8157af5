"""Token ids to text as they arrive: the new text of each step, with stop strings cut (never returned) and text that
may be the start of a stop string, or half of a multi-byte character, held back until it is known."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


def held_back(text: str, stops: tuple[str, ...]) -> int:
    """How many trailing characters of ``text`` could begin a stop string (so cannot be sent yet)."""
    hold = 0
    for s in stops:
        for n in range(min(len(s) - 1, len(text)), hold, -1):
            if text.endswith(s[:n]):
                hold = n
                break
    return hold


@dataclass
class TextStream:
    """One request's decoded text. ``push`` takes the ids so far and returns (new text to send, stopped)."""

    decode: Callable[[list[int]], str]
    stops: tuple[str, ...] = ()
    ids: list[int] = field(default_factory=list)
    sent: int = 0  # characters of the decoded text already sent

    def push(self, tokens: tuple[int, ...], final: bool) -> tuple[str, bool]:
        self.ids.extend(tokens)
        text = self.decode(self.ids)
        if self.stops:
            cuts = [i for s in self.stops if (i := text.find(s, max(0, self.sent - len(s) + 1))) >= 0]
            if cuts:
                end = min(cuts)
                out, self.sent = text[self.sent : end], max(self.sent, end)
                return out, True
        if final:
            end = len(text)
        else:
            end = len(text) - held_back(text, self.stops)
            while end > self.sent and text[end - 1] == "\ufffd":  # an unfinished multi-byte character
                end -= 1
        if end <= self.sent:
            return "", False
        out, self.sent = text[self.sent : end], end
        return out, False
