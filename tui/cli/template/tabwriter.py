"""Go's ``text/tabwriter`` as docker's tables use it."""

from __future__ import annotations


def tabwrite(lines: list[str], *, minwidth: int = 10, padding: int = 3, padchar: str = " ") -> str:
    """Align tab-separated ``lines`` like Go's ``tabwriter.NewWriter(out, 10, 1, 3, ' ', 0)``.

    Cells end at a tab; the text after a line's last tab is not a cell and is never padded.
    A column is a run of consecutive lines that all have a cell at that index; its width is
    the widest cell in the run plus ``padding``, at least ``minwidth``. Each output line ends
    with a newline.
    """
    return _tabwrite_text("".join(line + "\n" for line in lines), minwidth=minwidth, padding=padding, padchar=padchar)


def _tabwrite_text(text: str, *, minwidth: int = 10, padding: int = 3, padchar: str = " ") -> str:
    """Go's tabwriter over a whole text (flags 0, padchar not a tab)."""
    if "\t" not in text:
        return text
    rows = [line.split("\t") for line in text.split("\n")]
    nrows = len(rows)
    out: list[str] = []
    widths: list[int] = []

    def write_lines(line0: int, line1: int) -> None:
        for i in range(line0, line1):
            cells = rows[i]
            for j, cell in enumerate(cells):
                out.append(cell)
                if j < len(widths):
                    out.append(padchar * (widths[j] - len(cell)))
            if i + 1 < nrows:
                out.append("\n")

    def format_block(line0: int, line1: int) -> None:
        column = len(widths)
        this = line0
        while this < line1:
            if column >= len(rows[this]) - 1:
                this += 1
                continue
            write_lines(line0, this)
            line0 = this
            width = minwidth
            while this < line1:
                cells = rows[this]
                if column >= len(cells) - 1:
                    break
                w = len(cells[column]) + padding
                if w > width:
                    width = w
                this += 1
            widths.append(width)
            format_block(line0, this)
            widths.pop()
            line0 = this
        write_lines(line0, line1)

    format_block(0, nrows)
    return "".join(out)
