"""Reading the YAML files the exporter is given (config file, web config file) without letting them hurt.

A config file is operator input, and on a reload it is read inside the running
exporter, so reading one must be bounded like any untrusted input:

- the file is read only up to :data:`MAX_BYTES` and must be UTF-8 text;
- the composed node graph may hold at most :data:`MAX_NODES` nodes *after* expanding
  every alias (an alias bomb refers to one anchor thousands of times; PyYAML shares the
  objects, but anything that walks the result, such as an error message quoting it,
  pays for every reference) and at most :data:`MAX_DEPTH` levels of nesting (PyYAML's
  composer recurses, so deep nesting would raise RecursionError); recursive aliases are
  refused;
- a numeric literal longer than :data:`MAX_NUMBER_CHARS` characters is not converted
  (Python refuses ints over 4,300 digits, and no config number needs more than a few);
  it becomes a :class:`TooLongNumber` that validation reports as out of range;
- a key written twice in one mapping is an error naming its path, instead of the last
  one silently winning.

Every failure is a :class:`~exporter.errors.ConfigError` with one line, so every caller
(start-up, ``check-config``, reload) reports it the same way.
"""

from __future__ import annotations

import os
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from exporter.errors import ConfigError

MAX_BYTES = 256 * 1024
MAX_NODES = 20_000
MAX_DEPTH = 32
MAX_NUMBER_CHARS = 64
_EXCERPT = 60
_MERGE_TAG = "tag:yaml.org,2002:merge"


def excerpt(value: object, limit: int = _EXCERPT) -> str:
    """``repr(value)`` for an error message, cut to about ``limit`` characters.

    A value from a hostile file can be a megabyte long (or, through aliases, far more
    when printed); a message quotes only its start, so logs and terminals stay readable.
    """
    if isinstance(value, str | bytes):
        text = repr(value[: limit + 1])
    elif isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"a {'negative ' if value < 0 else ''}number of about {value.bit_length() * 3 // 10} digits"
    elif isinstance(value, list | tuple | dict | set):
        text = f"a {type(value).__name__} of {len(value)} items"
    else:
        text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def key_name(key: object) -> str:
    """A mapping key for a key path: as written when short and printable, else an excerpt."""
    if isinstance(key, str) and len(key) <= _EXCERPT and key.isprintable():
        return key
    return excerpt(key)


class TooLongNumber:
    """A numeric literal too long to be any config value; validation rejects it by its key path."""

    def __init__(self, text: str) -> None:
        self.length = len(text)

    def __repr__(self) -> str:
        return f"a number written with {self.length} characters"


class _Refused(Exception):
    """Raised inside the loader; turned into one ConfigError line by :func:`parse_yaml`.

    ``located``: the message starts with the key path, so it needs no file prefix.
    """

    def __init__(self, message: str, located: bool = False) -> None:
        super().__init__(message)
        self.located = located


class BoundedLoader(yaml.SafeLoader):
    """SafeLoader with bounded depth, bounded alias expansion, no duplicate keys, no huge numbers."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._path: list[str] = []
        self._nodes = 0

    # -- composition: depth, node count, duplicate keys ---------------------------------------

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if isinstance(parent, SequenceNode):
            self._path.append(f"[{index}]")
        elif isinstance(parent, MappingNode):
            self._path.append(_key_text(index) if isinstance(index, Node) else "(key)")
        else:
            self._path.append("")
        try:
            self._nodes += 1
            if self._nodes > MAX_NODES:
                raise _Refused(f"more than {MAX_NODES} YAML nodes; a config file is far smaller")
            if len(self._path) > MAX_DEPTH:
                raise _Refused(f"{self._where()}: nested deeper than {MAX_DEPTH} levels", located=True)
            return super().compose_node(parent, index)
        finally:
            self._path.pop()

    def compose_mapping_node(self, anchor: Any) -> MappingNode:
        node: MappingNode = super().compose_mapping_node(anchor)
        seen: set[tuple[str, str]] = set()
        for key, _ in node.value:
            if not isinstance(key, ScalarNode) or key.tag == _MERGE_TAG:
                continue
            ident = (key.tag, key.value)
            if ident in seen:
                path = ".".join(p for p in [*self._path, _key_text(key)] if p).replace(".[", "[")
                raise _Refused(
                    f"{path}: duplicate key (line {key.start_mark.line + 1}); "
                    "write each key once in a mapping",
                    located=True,
                )
            seen.add(ident)
        return node

    def compose_document(self) -> Node | None:
        node: Node | None = super().compose_document()
        if node is not None:
            _expanded(node, {}, set(), 1)
        return node

    def _where(self) -> str:
        path = ".".join(p for p in self._path if p).replace(".[", "[")
        return excerpt_path(path) or "config"


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


def excerpt_path(path: str) -> str:
    return path if len(path) <= 200 else path[:200] + "..."


def _key_text(node: Node) -> str:
    value = node.value if isinstance(node, ScalarNode) else "(key)"
    return value if len(value) <= _EXCERPT else value[:_EXCERPT] + "..."


def _expanded(node: Node, memo: dict[int, tuple[int, int]], active: set[int], depth: int) -> tuple[int, int]:
    """(nodes, height) of ``node`` with every alias expanded; refuses cycles and oversize graphs.

    Memoised by node identity, so the walk is linear in the composed graph even when
    the expansion is exponential; recursion is bounded by :data:`MAX_DEPTH`.
    """
    key = id(node)
    if key in active:
        raise _Refused(
            f"an alias refers to the mapping or list that contains it (line {node.start_mark.line + 1})"
        )
    if key in memo:
        size, height = memo[key]
    else:
        if depth > MAX_DEPTH:
            raise _Refused(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")
        children: list[Node] = []
        if isinstance(node, SequenceNode):
            children = list(node.value)
        elif isinstance(node, MappingNode):
            children = [n for pair in node.value for n in pair]
        active.add(key)
        size, height = 1, 1
        for child in children:
            s, h = _expanded(child, memo, active, depth + 1)
            size += s
            height = max(height, h + 1)
            if size > MAX_NODES:
                raise _Refused(
                    f"aliases expand to more than {MAX_NODES} YAML nodes (an alias bomb?); "
                    "write the values out or use fewer aliases"
                )
        active.discard(key)
        memo[key] = (size, height)
    if depth - 1 + height > MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels once aliases are expanded")
    return size, height


def _construct_int(loader: yaml.SafeLoader, node: ScalarNode) -> object:
    if len(node.value) > MAX_NUMBER_CHARS:
        return TooLongNumber(node.value)
    return yaml.SafeLoader.construct_yaml_int(loader, node)


def _construct_float(loader: yaml.SafeLoader, node: ScalarNode) -> object:
    if len(node.value) > MAX_NUMBER_CHARS:
        return TooLongNumber(node.value)
    return yaml.SafeLoader.construct_yaml_float(loader, node)


BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)
BoundedLoader.add_constructor("tag:yaml.org,2002:float", _construct_float)


def decode(data: bytes, where: str) -> str:
    """UTF-8 text of a file's bytes, or one ConfigError line saying what the file is instead."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")) or (len(data) > 1 and b"\x00" in data[:2]):
        raise ConfigError([f"{where}: is UTF-16 text; save it as UTF-8"])
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            [f"{where}: is not UTF-8 text (invalid byte at offset {e.start}); save it as UTF-8"]
        ) from e


def read_bounded(path: str | os.PathLike[str], where: str, limit: int = MAX_BYTES, path_key: str = "") -> str:
    """The UTF-8 text of ``path``, reading at most ``limit`` bytes. Raises ConfigError.

    ``path_key`` (the flag or key that named the file) heads the line when the file
    cannot be opened; ``where`` heads every other line.
    """
    path_key = path_key or where
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise ConfigError(
            [f"{path_key}: cannot read {excerpt(str(path))} ({e.strerror or type(e).__name__})"]
        ) from e
    except ValueError as e:  # an embedded NUL in the path
        raise ConfigError([f"{path_key}: cannot read {excerpt(str(path))} (not a valid path)"]) from e
    if len(data) > limit:
        raise ConfigError([f"{where}: is larger than {limit // 1024} KiB; a config file is far smaller"])
    return decode(data, where)


def parse_yaml(text: str, where: str, bare_paths: bool = False) -> object:
    """Parse one YAML document with :class:`BoundedLoader`. Raises ConfigError (one line).

    ``bare_paths``: a problem at a key path starts with the path alone, as the main
    config's validation problems do; otherwise every line starts with ``where``.
    """
    loader: BoundedLoader | None = None
    try:
        loader = BoundedLoader(text)  # checks the characters already
        return loader.get_single_data()
    except _Refused as e:
        raise ConfigError([str(e) if e.located and bare_paths else f"{where}: {e}"]) from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        if isinstance(e, yaml.reader.ReaderError):
            problem = f"character #x{e.character:04x} is not allowed (position {e.position})"
        else:
            problem = str(getattr(e, "problem", None) or type(e).__name__)
        raise ConfigError([f"{where}: not valid YAML{at}: {_one_line(problem)}"]) from None
    except RecursionError:
        raise ConfigError([f"{where}: nested too deeply"]) from None
    finally:
        if loader is not None:
            loader.dispose()


def load_yaml_file(
    path: str | os.PathLike[str], where: str, path_key: str = "", bare_paths: bool = False
) -> object:
    """Read and parse the YAML file at ``path`` within every bound above. Raises ConfigError."""
    return parse_yaml(read_bounded(path, where, path_key=path_key), where, bare_paths)
