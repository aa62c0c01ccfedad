"""The matcher's in-memory listing index: term (canonical skill or occupation) -> listings.

Why in memory: FerretDB 1.24 (SQLite) uses an index only for `{_id: value}` lookups; any other query reads the
whole collection, so a database query per spouse cannot stay fast at 50,000 listings. The database stays the
truth: the index is loaded from it at start-up and kept current by this service's own imports and by every
JobListingPublished event, which each replica reads in full outside the consumer group (shared.bus.TopicFollower),
so that every replica's index holds every listing.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import date

from services.job_match.domain import Listing, ListingFacts


class ListingIndex:
    def __init__(self, listings: Iterable[Listing] = ()):
        self._listings: dict[str, ListingFacts] = {}
        self._terms: dict[str, frozenset[str]] = {}
        self._by_term: dict[str, set[str]] = defaultdict(set)
        for listing in listings:
            self.put(listing)

    def __len__(self) -> int:
        return len(self._listings)

    def put(self, listing: Listing) -> None:
        self.remove(listing.id)
        terms = listing.index_terms
        self._listings[listing.id] = ListingFacts.of(listing)
        self._terms[listing.id] = terms
        for term in terms:
            self._by_term[term].add(listing.id)

    def put_all(self, listings: Iterable[Listing]) -> None:
        for listing in listings:
            self.put(listing)

    def remove(self, listing_id: str) -> None:
        for term in self._terms.pop(listing_id, ()):
            self._by_term[term].discard(listing_id)
        self._listings.pop(listing_id, None)

    def candidates(self, terms: Iterable[str], today: date) -> list[ListingFacts]:
        """Open listings sharing at least one term (their match facts), in id order (deterministic)."""
        ids: set[str] = set()
        for term in terms:
            ids |= self._by_term.get(term, set())
        found = (self._listings[i] for i in sorted(ids))
        return [facts for facts in found if facts.published <= today <= facts.expires]
