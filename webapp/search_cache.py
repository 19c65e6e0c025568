"""Recent searches kept in memory while the data they came from is unchanged.

Students type the same first letters: "h", "ha", "the", "harr". Finding and
ranking the candidates for such a keystroke is most of a search's cost at a
million titles (docs/benchmarks.md), and the answer changes only when the
catalogue does. So each process keeps the ranked candidates of recent queries,
and the pages built from them, stamped with the ``SearchVersions`` counters
they were read under (sql/0004_search_cache_versions.sql):

- ranked candidates are reused while ``Catalogue`` is unchanged (no book
  added, removed or retitled) and for at most ``max_age`` seconds, since how
  often a book was borrowed, one of the ranking signals, changes with every
  loan without counting as a catalogue change;
- a built page (with what is on the shelf) is reused while ``Circulation`` is
  unchanged too; otherwise it is rebuilt from the cached ranking with fresh
  availability.

The counters are read in the same reader call as the search, before it, so a
cached answer is never older than the counters it is filed under. Search runs
in the readers' threads, hence the lock.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Versions:
    catalogue: int
    circulation: int


@dataclass
class CachedSearch:
    """The ranked candidates of one query and the pages built from them so far."""

    catalogue_version: int
    made_at: float
    ranking: Any
    pages: dict[tuple[int, int], tuple[int, Any]] = field(default_factory=dict)


class SearchCache:
    """At most ``entries`` recent queries, least recently used dropped first."""

    def __init__(
        self,
        entries: int,
        max_age: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._entries = entries
        self._max_age = max_age
        self._clock = clock
        self._searches: OrderedDict[Any, CachedSearch] = OrderedDict()
        self._lock = threading.Lock()

    def ranking(self, key: Any, versions: Versions) -> Any | None:
        """The ranking kept for ``key``, if it is still current."""
        with self._lock:
            cached = self._current(key, versions)
            return None if cached is None else cached.ranking

    def keep_ranking(self, key: Any, versions: Versions, ranking: Any) -> None:
        if self._entries <= 0:
            return
        with self._lock:
            self._searches[key] = CachedSearch(versions.catalogue, self._clock(), ranking)
            self._searches.move_to_end(key)
            while len(self._searches) > self._entries:
                self._searches.popitem(last=False)

    def page(self, key: Any, versions: Versions, page: tuple[int, int]) -> Any | None:
        """The page (number, size) built for ``key``, if nothing it shows has changed."""
        with self._lock:
            cached = self._current(key, versions)
            if cached is None or page not in cached.pages:
                return None
            circulation_version, built = cached.pages[page]
            return built if circulation_version == versions.circulation else None

    def keep_page(self, key: Any, versions: Versions, page: tuple[int, int], built: Any) -> None:
        with self._lock:
            cached = self._current(key, versions)
            if cached is not None:
                cached.pages[page] = (versions.circulation, built)

    def _current(self, key: Any, versions: Versions) -> CachedSearch | None:
        cached = self._searches.get(key)
        if cached is None:
            return None
        if (
            cached.catalogue_version != versions.catalogue
            or self._clock() - cached.made_at > self._max_age
        ):
            del self._searches[key]
            return None
        self._searches.move_to_end(key)
        return cached
