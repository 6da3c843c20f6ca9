"""A small terminal screen for pseudo-terminal tests: it applies what the CLI wrote (text,
carriage returns, the cursor moves and erasures rich uses to redraw its live table), so a
test reads what an operator would see, not the raw stream with everything ever drawn."""

from __future__ import annotations

import re

CONTROL = re.compile(r"\x1b\[([?0-9;]*)([A-Za-z])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b.")


class Screen:
    def __init__(self, width: int = 80, height: int = 40) -> None:
        self.width, self.height = width, height
        self.lines: list[list[str]] = [[]]
        self.row = self.col = 0

    def _top(self) -> int:
        """The first line on the screen; the lines above it scrolled away."""
        return max(0, len(self.lines) - self.height)

    def _put(self, ch: str) -> None:
        if self.col >= self.width:
            self._newline()
        line = self.lines[self.row]
        line.extend(" " * (self.col + 1 - len(line)))
        line[self.col] = ch
        self.col += 1

    def _newline(self) -> None:
        self.row += 1
        self.col = 0
        while len(self.lines) <= self.row:
            self.lines.append([])

    def _csi(self, params: str, final: str) -> None:
        if params.startswith("?"):
            return  # cursor shown/hidden, modes
        args = [int(p) if p else 0 for p in params.split(";")] if params else []
        n = max(1, args[0]) if args else 1
        line = self.lines[self.row]
        if final == "A":
            self.row = max(self._top(), self.row - n)
        elif final == "B":
            self.row += n
            while len(self.lines) <= self.row:
                self.lines.append([])
        elif final == "C":
            self.col = min(self.width - 1, self.col + n)
        elif final == "D":
            self.col = max(0, self.col - n)
        elif final == "G":
            self.col = n - 1
        elif final == "K":
            mode = args[0] if args else 0
            if mode == 0:
                del line[self.col :]
            elif mode == 1:
                line[: self.col] = [" "] * min(self.col, len(line))
            else:
                line.clear()
        elif final == "J":
            mode = args[0] if args else 0
            if mode == 0:
                del line[self.col :]
                del self.lines[self.row + 1 :]
            elif mode == 2:
                for i in range(self._top(), len(self.lines)):
                    self.lines[i] = []
        # "m" (colours) and anything else change nothing that is read

    def feed(self, data: str) -> None:
        pos = 0
        for m in CONTROL.finditer(data):
            self._text(data[pos : m.start()])
            if m.group(2):
                self._csi(m.group(1), m.group(2))
            pos = m.end()
        self._text(data[pos:])

    def _text(self, text: str) -> None:
        for ch in text:
            if ch == "\n":
                self._newline()
            elif ch == "\r":
                self.col = 0
            elif ch == "\b":
                self.col = max(0, self.col - 1)
            elif ch == "\x07" or ord(ch) < 32:
                continue
            else:
                self._put(ch)

    def text(self) -> str:
        """Everything shown, scrollback included, as lines."""
        return "\n".join("".join(line).rstrip() for line in self.lines).rstrip("\n")

    def cursor_line(self) -> str:
        return "".join(self.lines[self.row]).rstrip()
