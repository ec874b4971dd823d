"""The simulator's deals in memory: current records for reads, and a search index that may lag.

Reads (`get`) see every change at once. Search sees an added or changed deal only once its
index lag has passed, as HubSpot's search is eventually consistent: until then it shows the
deal's previous version, or nothing for a new deal.

Kept fast for 100,000+ deals: ids in a sorted list (bisect for `hs_object_id GT x`), the
checked-in property in a sorted (value, id) list (bisect for a time window), and the sorted
result ids of recent queries cached, so paging through one query with `after` costs a slice.
Every method takes the store's lock; the HTTP server calls it from many threads.

The deal lifecycle (lifecycle.py drives it): a deleted deal is archived (out of reads and,
at once, out of search) and can be restored for 90 days; a merge replaces its deals by a new
one, and a read of a merged-away id finds the deal it went into.
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left, bisect_right, insort
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from .data import DealRecord
from .search import Filter, IndexEntry, SearchQuery, comparable, property_types

_CACHE_SIZE = 64
_INF = float("inf")
RESTORE_WINDOW_SECONDS = 90 * 86400  # HubSpot keeps a deleted deal restorable for 90 days


class Archived:
    """A deleted deal: its record, when it was archived (ISO) and the wall clock then."""

    __slots__ = ("archived_at", "at_seconds", "record")

    def __init__(self, record: DealRecord, archived_at: str, at_seconds: float) -> None:
        self.record = record
        self.archived_at = archived_at
        self.at_seconds = at_seconds


class DealStore:
    def __init__(
        self,
        *,
        checked_in_property: str,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.checked_in_property = checked_in_property
        self.types = property_types(checked_in_property)
        self._clock = clock
        self._wall_clock = wall_clock
        self._lock = threading.RLock()
        self._records: dict[int, DealRecord] = {}
        # The search index: what search sees.
        self._index: dict[int, IndexEntry] = {}
        self._index_ids: list[int] = []  # sorted
        self._by_checked_in: list[tuple[int, int]] = []  # sorted (checked-in ms, id)
        self._pending: deque[tuple[float, IndexEntry]] = deque()  # (visible at, entry)
        self._version = 0
        self._results: OrderedDict[tuple[str, int], list[int]] = OrderedDict()
        self._archived: dict[int, Archived] = {}
        self._merged_into: dict[int, int] = {}  # merged-away id -> the deal it went into
        self._sorted_ids: list[int] | None = None  # the records' ids, sorted (for listing)

    # ------------------------------------------------------------------------------
    # Writes
    # ------------------------------------------------------------------------------

    def load(self, records: Iterable[DealRecord]) -> None:
        """Bulk-load deals that already existed: visible to search at once."""
        with self._lock:
            for record in records:
                self._records[record.id] = record
                self._index[record.id] = IndexEntry(record, self.types)
            self._index_ids = sorted(self._index)
            checked = self.checked_in_property
            self._by_checked_in = sorted(
                (entry.keys[checked], deal_id)
                for deal_id, entry in self._index.items()
                if checked in entry.keys
            )
            self._changed()

    def add(self, record: DealRecord, *, index_lag: float) -> None:
        with self._lock:
            self._records[record.id] = record
            self._sorted_ids = None
            self._schedule(record, index_lag)

    def archive(self, deal_id: int, *, archived_at: str) -> Archived | None:
        """Delete (archive) a deal: out of reads and search at once. None when no such deal."""
        with self._lock:
            record = self._records.pop(deal_id, None)
            if record is None:
                return None
            self._sorted_ids = None
            self._uninstall(deal_id)
            archived = Archived(record, archived_at, self._wall_clock())
            self._archived[deal_id] = archived
            return archived

    def restore(self, deal_id: int, *, modified_at: str, index_lag: float) -> DealRecord | None:
        """Un-archive a deal deleted less than 90 days ago (bumping hs_lastmodifieddate)."""
        with self._lock:
            self._expire()
            archived = self._archived.pop(deal_id, None)
            if archived is None:
                return None
            record = archived.record
            record.properties = {**record.properties, "hs_lastmodifieddate": modified_at}
            record.updated_at = modified_at
            self._records[deal_id] = record
            self._sorted_ids = None
            self._schedule(record, index_lag)
            return record

    def merge(self, new: DealRecord, absorbed: list[int], *, index_lag: float) -> bool:
        """Replace the `absorbed` deals by `new`; False (and nothing done) unless all exist."""
        with self._lock:
            if not all(deal_id in self._records for deal_id in absorbed):
                return False
            for deal_id in absorbed:
                del self._records[deal_id]
                self._uninstall(deal_id)
                self._merged_into[deal_id] = new.id
            self._records[new.id] = new
            self._sorted_ids = None
            self._schedule(new, index_lag)
            return True

    def update(
        self,
        deal_id: int,
        properties: Mapping[str, str | None],
        *,
        modified_at: str,
        index_lag: float,
    ) -> DealRecord | None:
        """Set properties ("" or None clears one); None when there is no such deal."""
        with self._lock:
            record = self._records.get(deal_id)
            if record is None:
                return None
            changed = dict(record.properties)  # a new dict: the index may hold the old one
            for name, value in properties.items():
                changed[name] = None if value in (None, "") else str(value)
            changed["hs_object_id"] = str(deal_id)
            changed["hs_lastmodifieddate"] = modified_at
            record.properties = changed
            record.updated_at = modified_at
            self._schedule(record, index_lag)
            return record

    def _schedule(self, record: DealRecord, index_lag: float) -> None:
        entry = IndexEntry(record, self.types)
        if index_lag <= 0 and not self._pending:
            self._install(entry)
            self._changed()
        else:
            # FIFO: a later change never shows before an earlier one of the same deal.
            self._pending.append((self._clock() + index_lag, entry))

    def _apply_due(self) -> None:
        now = self._clock()
        installed = False
        while self._pending and self._pending[0][0] <= now:
            self._install(self._pending.popleft()[1])
            installed = True
        if installed:
            self._changed()

    def _install(self, entry: IndexEntry) -> None:
        if entry.id not in self._records:
            return  # archived or merged away since this change was made
        checked = self.checked_in_property
        old = self._index.get(entry.id)
        if old is None:
            insort(self._index_ids, entry.id)
        elif checked in old.keys:
            position = bisect_left(self._by_checked_in, (old.keys[checked], entry.id))
            del self._by_checked_in[position]
        if checked in entry.keys:
            insort(self._by_checked_in, (entry.keys[checked], entry.id))
        self._index[entry.id] = entry

    def _uninstall(self, deal_id: int) -> None:
        old = self._index.pop(deal_id, None)
        if old is None:
            return
        del self._index_ids[bisect_left(self._index_ids, deal_id)]
        checked = self.checked_in_property
        if checked in old.keys:
            del self._by_checked_in[bisect_left(self._by_checked_in, (old.keys[checked], deal_id))]
        self._changed()

    def _expire(self) -> None:
        """Deals deleted more than 90 days ago are gone for good."""
        oldest = self._wall_clock() - RESTORE_WINDOW_SECONDS
        for deal_id in [i for i, a in self._archived.items() if a.at_seconds < oldest]:
            del self._archived[deal_id]

    def _changed(self) -> None:
        self._version += 1
        self._results.clear()

    # ------------------------------------------------------------------------------
    # Reads
    # ------------------------------------------------------------------------------

    def get(self, deal_id: int) -> DealRecord | None:
        """The deal, or the deal a merged-away id went into (with its own id)."""
        with self._lock:
            return self._records.get(self.resolve(deal_id))

    def get_archived(self, deal_id: int) -> Archived | None:
        with self._lock:
            self._expire()
            return self._archived.get(self.resolve(deal_id))

    def resolve(self, deal_id: int) -> int:
        """The id a deal lives under now: its own, or that of the deal it was merged into."""
        with self._lock:
            seen = 0
            while deal_id in self._merged_into and seen <= len(self._merged_into):
                deal_id = self._merged_into[deal_id]
                seen += 1
            return deal_id

    def page(self, *, archived: bool, after: int, limit: int) -> tuple[list[Any], bool]:
        """Deals (or archived deals) with ids above `after`, by id: (the page, more after)."""
        with self._lock:
            if archived:
                self._expire()
                ids = sorted(self._archived)
                source: Mapping[int, Any] = self._archived
            else:
                if self._sorted_ids is None:
                    self._sorted_ids = sorted(self._records)
                ids = self._sorted_ids
                source = self._records
            start = bisect_right(ids, after)
            page = [source[i] for i in ids[start : start + limit]]
            return page, start + limit < len(ids)

    def counts(self) -> dict[str, int]:
        with self._lock:
            self._apply_due()
            self._expire()
            return {
                "deals": len(self._records),
                "visible_in_search": len(self._index),
                "pending_index": len(self._pending),
                "archived": len(self._archived),
                "merged_away": len(self._merged_into),
            }

    def search(self, query: SearchQuery) -> tuple[int, list[IndexEntry]]:
        """(total matches, the entries of the requested page)."""
        with self._lock:
            self._apply_due()
            key = (query.cache_key, self._version)
            ids = self._results.get(key)
            if ids is None:
                ids = self._matching_ids(query)
                self._results[key] = ids
                if len(self._results) > _CACHE_SIZE:
                    self._results.popitem(last=False)
            else:
                self._results.move_to_end(key)
            page = ids[query.after : query.after + query.limit]
            return len(ids), [self._index[deal_id] for deal_id in page]

    def _matching_ids(self, query: SearchQuery) -> list[int]:
        groups = query.groups or ((),)
        matched: set[int] | list[int] = set() if len(groups) > 1 else []
        for group in groups:
            ids, covered = self._candidates(group)
            # Filters the index lookup already applied exactly need no second look.
            tests = [f.test for position, f in enumerate(group) if position not in covered]
            if query.text:
                tests.append(query.matches_text)
            if tests:
                index = self._index
                ids = [i for i in ids if all(test(index[i]) for test in tests)]
            if isinstance(matched, set):
                matched.update(ids)
            else:
                matched = ids
        if query.sort_property == "hs_object_id":
            return sorted(matched, reverse=query.descending)

        entries = [self._index[i] for i in matched]
        kind = self.types.get(query.sort_property)
        name = query.sort_property

        def value(entry: IndexEntry) -> object:
            if kind is not None:
                return entry.keys.get(name)
            return comparable("string", entry.properties.get(name))

        present = [e for e in entries if value(e) is not None]
        missing = sorted(e.id for e in entries if value(e) is None)
        present.sort(key=lambda e: (value(e), e.id), reverse=query.descending)
        # Deals without the sort property come last either way.
        return [e.id for e in present] + missing

    def _candidates(self, group: tuple[Filter, ...]) -> tuple[list[int], set[int]]:
        """The ids a group can match, from the narrowest index its filters allow, and the
        positions of the filters that lookup applied exactly."""
        ids: frozenset[int] | None = None
        covered: set[int] = set()
        for position, f in enumerate(group):
            if f.ids is not None:
                ids = f.ids if ids is None else ids & f.ids
                covered.add(position)
        if ids is not None:
            return [i for i in ids if i in self._index], covered

        id_filters = {position for position, f in enumerate(group) if f.id_after is not None}
        id_after = max((f.id_after for f in group if f.id_after is not None), default=None)
        id_start = 0 if id_after is None else bisect_right(self._index_ids, id_after)
        id_count = len(self._index_ids) - id_start

        checked = self.checked_in_property
        window = {
            position
            for position, f in enumerate(group)
            if f.property_name == checked and f.operator != "NEQ" and (f.low or f.high)
        }
        if window:
            low, high = 0, len(self._by_checked_in)
            for position in window:
                f = group[position]
                if f.low is not None:
                    value, inclusive = f.low
                    probe = (value, -_INF) if inclusive else (value, _INF)
                    low = max(low, bisect_left(self._by_checked_in, probe))
                if f.high is not None:
                    value, inclusive = f.high
                    probe = (value, _INF) if inclusive else (value, -_INF)
                    high = min(high, bisect_right(self._by_checked_in, probe))
            # Walking the window is cheap (no filter calls), so it wins unless much larger.
            if high - low <= 3 * id_count:
                in_window = self._by_checked_in[low:high]
                if id_after is None:
                    return [i for _, i in in_window], window
                return [i for _, i in in_window if i > id_after], window | id_filters
        return self._index_ids[id_start:], id_filters
