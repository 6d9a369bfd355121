"""The vocabularies of the record model: EDM, ORE, DC, DCTerms, SKOS, WGS84, PROV and our own."""

from __future__ import annotations

from functools import lru_cache

from rdflib import Graph, Namespace, URIRef
from rdflib.namespace import DC, DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD, DefinedNamespace


class _Namespace(Namespace):
    """A Namespace that makes each term once.

    rdflib's Namespace builds and checks a new URIRef on every `EDM.Agent` (~5 us); the
    ingest asks for the same few terms hundreds of times a record.
    """

    def __getattr__(self, name: str) -> URIRef:
        term = super().__getattr__(name)
        self.__dict__[name] = term
        return term


def _terms_made_once(*namespaces: type[DefinedNamespace]) -> None:
    """Keep each declared term of rdflib's closed namespaces (DC, SKOS...) on its class.

    rdflib builds and checks a new URIRef on every `DC.title` (~1.5 us), and the readers,
    checks and search document ask for the same terms hundreds of times a record. The terms
    are equal either way; undeclared names still go through rdflib's own lookup.
    """
    for namespace in namespaces:
        for name in namespace.__annotations__:
            setattr(namespace, name, namespace[name])


_terms_made_once(DC, DCTERMS, OWL, PROV, RDF, RDFS, SKOS, XSD)

EDM = _Namespace("http://www.europeana.eu/schemas/edm/")
ORE = _Namespace("http://www.openarchives.org/ore/terms/")
WGS84 = _Namespace("http://www.w3.org/2003/01/geo/wgs84_pos#")
SVCS = _Namespace("http://rdfs.org/sioc/services#")
DOAP = _Namespace("http://usefulinc.com/ns/doap#")
EBUCORE = _Namespace("http://www.ebu.ch/metadata/ontologies/ebucore/ebucore#")
RIGHTS = _Namespace("http://rightsstatements.org/vocab/")
CC = _Namespace("https://creativecommons.org/")
# Memoria's own terms, only for what EDM has no word for (archival level, order, image ids,
# record status); everything descriptive stays in DC / DCTerms / EDM.
MEM = _Namespace("https://w3id.org/memoria/ns#")

PREFIXES: dict[str, Namespace] = {
    "dc": Namespace(str(DC)),
    "dcterms": Namespace(str(DCTERMS)),
    "edm": EDM,
    "ore": ORE,
    "skos": Namespace(str(SKOS)),
    "wgs84_pos": WGS84,
    "prov": Namespace(str(PROV)),
    "svcs": SVCS,
    "doap": DOAP,
    "ebucore": EBUCORE,
    "rdf": Namespace(str(RDF)),
    "rdfs": Namespace(str(RDFS)),
    "owl": Namespace(str(OWL)),
    "xsd": Namespace(str(XSD)),
    "mem": MEM,
    "relators": Namespace("http://id.loc.gov/vocabulary/relators/"),
}

EDM_TYPES = frozenset({"TEXT", "IMAGE", "SOUND", "VIDEO", "3D"})
ARCHIVAL_LEVELS = (
    "collection", "fonds", "subfonds", "series", "subseries", "file", "item", "otherlevel",
)

__all__ = [
    "ARCHIVAL_LEVELS", "CC", "DC", "DCTERMS", "DOAP", "EBUCORE", "EDM", "EDM_TYPES", "MEM",
    "ORE", "OWL", "PREFIXES", "PROV", "RDF", "RDFS", "RIGHTS", "SKOS", "SVCS", "WGS84", "XSD",
    "bind_prefixes", "expand_curie",
]


def bind_prefixes(graph: Graph) -> Graph:
    """Bind the record model's prefixes on a graph, for readable serialisations."""
    for prefix, namespace in PREFIXES.items():
        graph.bind(prefix, namespace, override=True, replace=True)
    return graph


@lru_cache(maxsize=4096)
def expand_curie(curie: str) -> str:
    """Expand `dc:title` to its full IRI; raise ValueError for an unknown prefix."""
    prefix, sep, local = curie.partition(":")
    if not sep or prefix not in PREFIXES or not local:
        raise ValueError(f"unknown property {curie!r}: use one of the prefixes {sorted(PREFIXES)}")
    return str(PREFIXES[prefix][local])
