"""The entity check of a feed document, made by an XML parser before feedparser sees it.

A feed has no use for entity declarations, and they are how the billion-laughs and
quadratic-blowup attacks are built (feedparser itself keeps and expands "safe" ones). A text
scan for `<!ENTITY` can be fooled (a `]>` in a comment, a DOCTYPE far into the document, an
encoding other than UTF-8), so the question is put to defusedxml's expat parser, which
refuses any entity declaration wherever expat finds it. It reads the
bytes as feedparser will (feedparser's own conversion to UTF-8) and stops at the root
element: every declaration comes before it.
"""

from __future__ import annotations

import io
import xml.sax
import xml.sax.handler

from defusedxml.common import DefusedXmlException
from defusedxml.expatreader import DefusedExpatParser
from feedparser.encodings import convert_to_utf8

DECLARES_ENTITIES = "the feed declares XML entities (refused: entity expansion is a known attack)"


class _RootReached(Exception):
    """The prolog is over: nothing after it can declare an entity."""


class _StopAtRoot(xml.sax.handler.ContentHandler):
    def startElement(self, name: str, attrs: object) -> None:
        raise _RootReached


def entity_problem(data: bytes, headers: dict[str, str] | None = None) -> str | None:
    """Why the feed document `data` is refused before it is parsed (it declares entities, or its
    prolog is not XML), or None."""
    converted = convert_to_utf8(dict(headers or {}), data, {})
    # A DOCTYPE naming an external DTD (RSS 0.91's) is common and harmless: it is never
    # fetched (external entities off), and nothing it could declare is used without a
    # declaration in the document, which is refused.
    parser = DefusedExpatParser(forbid_dtd=False, forbid_entities=True, forbid_external=False)
    parser.setFeature(xml.sax.handler.feature_external_ges, False)
    parser.setFeature(xml.sax.handler.feature_external_pes, False)
    parser.setContentHandler(_StopAtRoot())
    source = xml.sax.xmlreader.InputSource()
    source.setByteStream(io.BytesIO(converted))
    try:
        parser.parse(source)
    except _RootReached:
        return None
    except DefusedXmlException:
        return DECLARES_ENTITIES
    except xml.sax.SAXParseException as exc:
        # Broken before its first element: whatever came before could not be checked.
        return f"not a valid RSS or Atom feed (the XML is not well-formed: {exc.getMessage()})"
    return "not a valid RSS or Atom feed (it holds no XML element)"
