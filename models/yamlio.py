"""YAML read with limits: every YAML file the project reads comes through here.

A file must be a regular file of at most `MAX_BYTES`, UTF-8 text, nested at most `MAX_DEPTH` deep,
with at most `MAX_ALIASES` aliases and at most `MAX_NODES` nodes once aliases are expanded (a
"billion laughs" document is refused before anything walks it). Numbers follow YAML 1.2: ``1e6`` and
``.5`` are floats (PyYAML's YAML 1.1 rules would read ``1e6`` as a string). Only plain data is
built (safe loader): no Python objects, no code.
"""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from models.errors import UserError

MAX_BYTES = 8 << 20
MAX_DEPTH = 64
MAX_ALIASES = 1000
MAX_NODES = 1_000_000

_FLOAT_TAG = "tag:yaml.org,2002:float"
_YAML12_FLOAT = re.compile(r"""^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?
                            |[-+]?\.(?:inf|Inf|INF)
                            |\.(?:nan|NaN|NAN))$""", re.X)


class _TooLarge(Exception):
    pass


class _Loader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._depth = 0
        self._aliases = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                raise _TooLarge(f"more than {MAX_ALIASES} aliases")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise _TooLarge(f"nested deeper than {MAX_DEPTH} levels")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _FLOAT_TAG]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
_Loader.add_implicit_resolver(_FLOAT_TAG, _YAML12_FLOAT, list("-+0123456789."))


_CBase = getattr(yaml, "CSafeLoader", None)  # libyaml's parser, ~10x faster than the pure-Python one
if _CBase is not None:
    class _CLoader(_CBase):
        """libyaml's composer is recursive in C: `_check_events` bounds depth and aliases first."""

    _CLoader.yaml_implicit_resolvers = _Loader.yaml_implicit_resolvers


def _check_events(text: str) -> None:
    depth = aliases = 0
    for event in yaml.parse(text, Loader=_CBase):
        if isinstance(event, yaml.AliasEvent):
            aliases += 1
            if aliases > MAX_ALIASES:
                raise _TooLarge(f"more than {MAX_ALIASES} aliases")
        elif isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth >= MAX_DEPTH:  # the composer counts the scalars inside as one level more
                raise _TooLarge(f"nested deeper than {MAX_DEPTH} levels")
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _load(text: str) -> object:
    if _CBase is None:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - _Loader is a SafeLoader
    _check_events(text)
    return yaml.load(text, Loader=_CLoader)  # noqa: S506 - a CSafeLoader


def _check_expanded_size(doc: object) -> None:
    """Count nodes as a consumer walking the document would meet them (shared nodes once per use)."""
    count, stack = 0, [(doc, ())]
    while stack:
        node, path = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise _TooLarge(f"more than {MAX_NODES:,} values once aliases are expanded")
        if isinstance(node, (dict, list)):
            if id(node) in path:
                raise _TooLarge("an alias refers to the node that contains it (recursive document)")
            children = list(node.keys()) + list(node.values()) if isinstance(node, dict) else node
            inner = path + (id(node),)
            stack.extend((child, inner) for child in children)


def parse_yaml(text: str, where: str) -> object:
    """Parse YAML text with the limits above; errors are one line starting with ``where``."""
    if len(text) > MAX_BYTES:
        raise UserError(f"{where}: larger than {MAX_BYTES >> 20} MiB of YAML")
    try:
        doc = _load(text)
        _check_expanded_size(doc)
    except _TooLarge as exc:
        raise UserError(f"{where}: YAML refused ({exc})") from None
    except yaml.YAMLError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise UserError(f"{where}: not valid YAML ({first[:120]})") from None
    return doc


def read_bytes(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> bytes:
    """A regular file's bytes, at most ``max_bytes`` (``what`` names it in errors)."""
    path = Path(path)
    try:
        with open(path, "rb") as fh:
            info = os.fstat(fh.fileno())
            if not stat.S_ISREG(info.st_mode):
                raise UserError(f"{path}: not a regular file (expected {what})")
            data = fh.read(max_bytes + 1)
    except OSError as exc:
        raise UserError(f"{path}: cannot read {what} ({exc.strerror or exc})") from None
    if len(data) > max_bytes:
        raise UserError(f"{path}: larger than {max_bytes:,} bytes (expected {what})")
    return data


def read_text(path: str | Path, what: str, max_bytes: int = MAX_BYTES) -> str:
    """A regular file's UTF-8 text, at most ``max_bytes`` (``what`` names it in errors)."""
    path = Path(path)
    data = read_bytes(path, what, max_bytes)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}; expected {what})") from None


def load_yaml_file(path: str | Path, what: str) -> object:
    """Read and parse one YAML file with every limit of this module."""
    return parse_yaml(read_text(path, what), str(path))
