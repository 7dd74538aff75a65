"""Print a rich table within the console's width without cutting a cell.

Rich shrinks a table that is too wide by cutting cells to an ellipsis ("6,…", "technolo…"). Here every
cell keeps its full text instead: headers may wrap at spaces, and when the columns still do not fit,
the table is stacked — printed as several tables, each repeating the key columns (a row's name) on
the left. A key column wider than a third of the width wraps onto further lines (folded), never cut.
"""

from __future__ import annotations

from itertools import combinations

from rich.cells import cell_len
from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table

# Per column, rich's SIMPLE_HEAD box with pad_edge=False adds one divider and two padding characters
# between neighbours, and one edge character at each end.
GAP = 3
EDGES = 2


def _text(cell) -> str:
    return cell.plain if hasattr(cell, "plain") else str(cell)


def _header_min(col) -> int:
    return max((cell_len(w) for w in _text(col.header).split()), default=0)


def column_widths(t: Table) -> tuple[list[int], list[int]]:
    """Per column: the narrowest width that cuts nothing (header wrapped at spaces), and the natural
    width (header on one line)."""
    narrow, natural = [], []
    for col in t.columns:
        cells = max((max(cell_len(line) for line in _text(c).splitlines() or [""]) for c in col.cells), default=0)
        narrow.append(max(cells, _header_min(col)))
        natural.append(max(cells, cell_len(_text(col.header))))
    return narrow, natural


def table_width(widths: list[int], pad_edge: bool = False) -> int:
    return sum(widths) + GAP * (len(widths) - 1) + EDGES + (2 if pad_edge else 0)


def stack_groups(widths: list[int], keys: int, width: int, pad_edge: bool = False) -> list[list[int]]:
    """Column indices of each stacked table after the ``keys`` key columns: as few tables as fit, the
    columns kept in order and split so that the widest part is as narrow as possible."""
    rest = list(range(keys, len(widths)))

    def part_width(group) -> int:
        return table_width([widths[j] for j in [*range(keys), *group]], pad_edge)

    for parts in range(1, len(rest) + 1):
        best = None
        for cuts in combinations(range(1, len(rest)), parts - 1):
            groups = [rest[a:b] for a, b in zip((0, *cuts), (*cuts, len(rest)))]
            sizes = [part_width(g) for g in groups]
            score = (max(sizes), max(sizes) - min(sizes))
            if score[0] <= width and (best is None or score < best[0]):
                best = (score, groups)
        if best:
            return best[1]
    return [[j] for j in rest] or [[]]  # even one column beside the keys is too wide: rich shrinks it


def _copy(t: Table, cols: list[int], widths: list[int], fold: set[int], title) -> Table:
    out = Table(title=title, title_justify=t.title_justify, box=t.box, pad_edge=t.pad_edge,
                show_header=t.show_header, padding=t.padding)
    columns = list(t.columns)
    for i in cols:
        c = columns[i]
        out.add_column(c.header, justify=c.justify, width=widths[i], overflow="fold" if i in fold else c.overflow)
    for row in zip(*[list(columns[i].cells) for i in cols]):
        out.add_row(*row)
    return out


def fitted_parts(t: Table, width: int, keys: int = 1) -> list[Table] | None:
    """None when ``t`` fits ``width`` as it is; else the tables to print instead: one with wrapped
    headers, or the stacked parts, each with the first ``keys`` columns repeated."""
    narrow, natural = column_widths(t)
    if table_width(natural, t.pad_edge) <= width:
        return None
    keys = min(keys, len(narrow))
    cap = max(12, width // 3)
    fold = {i for i in range(keys) if narrow[i] > cap}  # a very long name wraps inside its column
    for i in fold:
        narrow[i] = cap
    groups = ([list(range(keys, len(narrow)))] if table_width(narrow, t.pad_edge) <= width
              else stack_groups(narrow, keys, width, t.pad_edge))
    return [_copy(t, [*range(keys), *g], narrow, fold,
                  t.title if n == 0 else (f"{str(t.title).split(' (')[0]} (continued)" if t.title else None))
            for n, g in enumerate(groups)]


class FitTable(Table):
    """A rich Table that prints itself within the console's width (see the module's docstring);
    ``keys`` = how many leading columns name a row and are repeated when stacked."""

    def __init__(self, *args, keys: int = 1, **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = keys

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        parts = fitted_parts(self, options.max_width, self.keys)
        if parts is None:
            yield from super().__rich_console__(console, options)
        else:
            yield from parts


def print_fitted(console: Console, t: Table, keys: int = 1) -> None:
    """Print ``t`` within ``console.width``: as it is when it fits, else with wrapped headers, else
    stacked with its first ``keys`` columns repeated in each part."""
    for part in fitted_parts(t, console.width, keys) or [t]:
        console.print(part)
