"""The one hardened XML parser for all untrusted input (EAD, LIDO, MARCXML, METS, OAI-PMH...)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from lxml import etree

MAX_BYTES = 512 * 1024 * 1024
XINCLUDE = "http://www.w3.org/2001/XInclude"


class XmlRejected(ValueError):
    """XML that is refused: malformed, hostile, or over a limit; the message says which."""


def _parser() -> etree.XMLParser:
    # No network, no DTD loading or validation, no entity substitution (so no XXE and no
    # billion laughs), huge_tree off (lxml's own limits on text node size and depth stay on).
    return etree.XMLParser(
        resolve_entities=False, no_network=True, load_dtd=False, dtd_validation=False,
        huge_tree=False, remove_comments=False, remove_pis=True, collect_ids=False,
    )


def _check(root: etree._Element) -> None:
    # With entity substitution off, a reference stays in the tree as an entity node; refuse it
    # rather than hand a reader text with holes. (Depth is capped by libxml2 itself at 256
    # levels while huge_tree is off, and a text node at 10 MB.)
    for entity in root.iter(etree.Entity):
        raise XmlRejected(f"entity reference {entity.text or entity.tag} is not allowed")
    # XInclude is never processed (lxml only does when asked); an include is refused outright
    # so no reader can mistake it for content.
    for _ in root.iter(f"{{{XINCLUDE}}}*"):
        raise XmlRejected("XInclude elements are not processed; refused")


def _check_start(head: bytes, source: str) -> None:
    # NUL bytes outside UTF-16 mean a binary or mis-encoded file, whatever libxml2 makes of it.
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise XmlRejected(f"{source}: NUL bytes in an XML document; refused")


def parse_xml_bytes(data: bytes, source: str = "input") -> etree._Element:
    """Parse untrusted XML bytes; raise XmlRejected with a position and reason when refused."""
    if len(data) > MAX_BYTES:
        raise XmlRejected(f"{source}: {len(data):,} bytes is over the limit of {MAX_BYTES:,}")
    _check_start(data[:4096], source)
    try:
        tree = etree.fromstring(data, parser=_parser()).getroottree()
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise XmlRejected(f"{source}: not well-formed XML at line {line}, column {column}: "
                          f"{exc.msg}") from None
    except ValueError as exc:
        raise XmlRejected(f"{source}: {exc}") from None
    root = tree.getroot()
    if root is None:
        raise XmlRejected(f"{source}: empty document")
    try:
        _check(root)
    except XmlRejected as exc:
        raise XmlRejected(f"{source}: {exc}") from None
    return root


def parse_xml_file(path: Path) -> etree._Element:
    """Parse an untrusted XML file."""
    _check_size(path)
    return parse_xml_bytes(path.read_bytes(), str(path))


def xpath_of(element: etree._Element) -> str:
    """A readable XPath of an element, for rejection positions."""
    return str(element.getroottree().getpath(element))


def _check_size(path: Path) -> None:
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise XmlRejected(f"{path}: cannot read: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise XmlRejected(f"{path}: {size:,} bytes is over the limit of {MAX_BYTES:,}")


def _name(element: etree._Element) -> str | None:
    tag = element.tag
    return tag.rpartition("}")[2] if isinstance(tag, str) else None


def _release(element: etree._Element, removed: dict[etree._Element, dict[str, int]]) -> None:
    # Detach the element (a caller still holding it keeps it whole) and everything finished
    # before it and before each ancestor: what stays in memory is the path to the next element.
    # `removed` counts, per parent still in the tree, the children of each name taken away, so
    # that XPath positions stay exact.
    parent = element.getparent()
    if parent is None:
        return
    gone = removed.setdefault(parent, {})
    while (first := parent[0]) is not element:
        _forget(first, gone, removed)
        del parent[0]
    _forget(element, gone, removed)
    parent.remove(element)
    node = parent
    while node is not None:
        above = node.getparent()
        if above is not None:
            gone = removed.setdefault(above, {})
            while (first := above[0]) is not node:
                _forget(first, gone, removed)
                del above[0]
        node = above


def _forget(child: etree._Element, gone: dict[str, int],
            removed: dict[etree._Element, dict[str, int]]) -> None:
    name = _name(child)
    if name is not None:
        gone[name] = gone.get(name, 0) + 1
        removed.pop(child, None)


def _position(element: etree._Element, removed: dict[etree._Element, dict[str, int]]) -> str:
    """The XPath of a streamed element by local names, every step below the root counted."""
    steps: list[str] = []
    node = element
    while True:
        name = _name(node)
        parent = node.getparent()
        if parent is None:
            steps.append(f"/{name}")
            return "".join(reversed(steps))
        before = removed.get(parent, {}).get(name or "", 0)
        before += sum(1 for s in node.itersiblings(preceding=True) if _name(s) == name)
        steps.append(f"/{name}[{before + 1}]")
        node = parent


def iter_located(path: Path, local_name: str) -> Iterator[tuple[str, etree._Element]]:
    """Stream (XPath, element) for every element called `local_name` (any namespace).

    The same hardening as parse_xml_file (no network, no DTD, no entity substitution,
    huge_tree off, entity references and XInclude refused), without the whole tree in memory:
    each element is handed out once complete and detached (with what came before it) as soon
    as the caller asks for the next one. The XPath names local names with every step below the
    root counted, e.g. /lidoWrap/lido[3]: exact although earlier elements are gone (their
    number is kept per parent). Elements of that name nested in a yielded one are not yielded
    again. A malformed document raises XmlRejected where the damage is, after the elements
    before it.
    """
    _check_size(path)
    try:
        with path.open("rb") as head:
            _check_start(head.read(4096), str(path))
    except OSError as exc:
        raise XmlRejected(f"{path}: cannot read: {exc.strerror or exc}") from None
    # Events for the wanted elements only: libxml2 still builds the whole tree, but Python
    # sees two events a record instead of two an element.
    events = etree.iterparse(
        str(path), events=("start", "end"), tag=f"{{*}}{local_name}", resolve_entities=False,
        no_network=True, load_dtd=False, dtd_validation=False, huge_tree=False,
        remove_pis=True, collect_ids=False,
    )
    removed: dict[etree._Element, dict[str, int]] = {}
    depth = 0  # how many wanted elements are open around the current one
    try:
        for event, element in events:
            if event == "start":
                depth += 1
                continue
            depth -= 1
            if depth:
                continue  # nested inside another wanted element: part of it
            position = _position(element, removed)
            try:
                _check(element)
            except XmlRejected as exc:
                raise XmlRejected(f"{path}: {position}: {exc}") from None
            yield position, element
            _release(element, removed)
    except etree.XMLSyntaxError as exc:
        line, column = exc.position if exc.position else (0, 0)
        raise XmlRejected(f"{path}: not well-formed XML at line {line}, column {column}: "
                          f"{exc.msg}") from None


def root_name(path: Path) -> tuple[str, str | None]:
    """The (local name, namespace) of a file's root element, read without parsing the rest."""
    _check_size(path)
    try:
        for _, element in etree.iterparse(
                str(path), events=("start",), resolve_entities=False, no_network=True,
                load_dtd=False, dtd_validation=False, huge_tree=False, collect_ids=False):
            qname = etree.QName(element)
            return qname.localname, qname.namespace
    except etree.XMLSyntaxError as exc:
        raise XmlRejected(f"{path}: not well-formed XML: {exc.msg}") from None
    raise XmlRejected(f"{path}: empty document")


def iter_elements(path: Path, local_name: str) -> Iterator[tuple[int, etree._Element]]:
    """Stream (number, element) for every element called `local_name`; see iter_located."""
    for number, (_, element) in enumerate(iter_located(path, local_name), 1):
        yield number, element
