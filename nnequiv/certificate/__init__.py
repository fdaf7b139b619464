"""Certificates: JSON documents binding two models, a domain, a relation and evidence.

Building them is untrusted (:mod:`.build`); reading and validating the schema is
shared with the checker (:mod:`.io`).
"""

from .io import SCHEMA_ID, load_certificate, save_certificate

__all__ = ["SCHEMA_ID", "load_certificate", "save_certificate"]
