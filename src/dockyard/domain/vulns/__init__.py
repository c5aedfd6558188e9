"""The offline vulnerability database's pure parts: OSV records (:mod:`.osv`), where they come from
(:mod:`.sources`), each ecosystem's version order (:mod:`.versions`), how an image's packages are named in
OSV terms (:mod:`.ecosystems`), range evaluation (:mod:`.matching`), which records of an import change
anything (:mod:`.upsert`), and what a finding shows (:mod:`.info`, :mod:`.severity`). The use case is
:mod:`dockyard.services.vulndb`; storage is :mod:`dockyard.metadata.vulndb_store`."""

from dockyard.domain.vulns.ecosystems import MatchQuery, query_for
from dockyard.domain.vulns.info import AdvisoryInfo
from dockyard.domain.vulns.matching import Match
from dockyard.domain.vulns.osv import Advisory, InvalidAdvisory, parse_advisory

__all__ = [
    "Advisory",
    "AdvisoryInfo",
    "InvalidAdvisory",
    "Match",
    "MatchQuery",
    "parse_advisory",
    "query_for",
]
