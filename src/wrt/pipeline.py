"""Read ahead and write behind: a streamed run's I/O in background threads.

A streamed run (:func:`wrt.partials_stream`) reads a chunk, computes it and
writes it. Reading and decoding Parquet, and encoding and writing it, run in
Arrow's C++ code with the GIL released, so they can proceed in a thread while
the main thread computes the next chunk:

- :class:`ReadAhead` runs an iterator in a thread, at most ``depth`` items ahead;
- :class:`WriteBehind` runs a function on each submitted item, in order, in a
  thread, with at most ``depth`` items waiting.

Both queues are bounded, so memory stays bounded by a few chunks whatever the
file. An exception in a thread (any ``BaseException``: a ``DataError``, a full
disk, a ``KeyboardInterrupt`` raised by a callback) is re-raised, as the same
object, in the main thread at its next call; nothing waits forever, because
every blocking wait polls a stop flag that :meth:`close` (and a failure) sets.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: Seconds between two looks at the stop flag while a queue is full or empty.
POLL = 0.05


class _Done:
    """The end of a queue's items."""


_DONE = _Done()


class ReadAhead(Generic[T]):
    """Iterate ``items`` in a background thread, at most ``depth`` items ahead.

    Args:
        items: the iterator (a generator is closed in its own thread when the
            reading stops early).
        depth: items held ready at most.
        name: the thread's name.
    """

    def __init__(self, items: Iterator[T], depth: int = 2, name: str = "read") -> None:
        self._items = items
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"wrt-{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        try:
            for item in self._items:
                if not self._put(item):
                    break
            else:
                self._put(_DONE)
        except BaseException as exc:  # handed to the consumer, raised there
            self._put(exc)
        finally:
            close = getattr(self._items, "close", None)
            if close is not None:
                close()

    def _put(self, item: object) -> bool:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=POLL)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[T]:
        while True:
            try:
                item = self._queue.get(timeout=POLL)
            except queue.Empty:
                if not self._thread.is_alive() and self._queue.empty():
                    return  # stopped: nothing more will come
                continue
            if item is _DONE:
                return
            if isinstance(item, BaseException):
                self._stop.set()
                raise item
            yield item  # type: ignore[misc]

    def close(self) -> None:
        """Stop reading and wait for the thread to end."""
        self._stop.set()
        self._thread.join()


class WriteBehind(Generic[T]):
    """Call ``work(item)`` for each submitted item, in order, in a background thread.

    Args:
        work: what to do with each item.
        depth: items waiting at most (:meth:`submit` blocks beyond).
        name: the thread's name.
    """

    def __init__(
        self, work: Callable[[T], None], depth: int = 2, name: str = "write"
    ) -> None:
        self._work = work
        self._queue: queue.Queue[object] = queue.Queue(maxsize=max(depth, 1))
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name=f"wrt-{name}", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                item = self._queue.get(timeout=POLL)
            except queue.Empty:
                continue
            if item is _DONE:
                return
            try:
                self._work(item)  # type: ignore[arg-type]
            except BaseException as exc:  # raised in the main thread
                self._error = exc
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._error is not None:
            raise self._error

    def submit(self, item: T) -> None:
        """Queue ``item``; re-raises an earlier failure of the thread."""
        while True:
            self._raise()
            if self._stop.is_set():
                raise RuntimeError("submit after close")  # a programming error
            try:
                self._queue.put(item, timeout=POLL)
                return
            except queue.Full:
                continue

    def finish(self) -> None:
        """Wait until every submitted item is done; re-raises a failure."""
        while self._thread.is_alive():
            try:
                self._queue.put(_DONE, timeout=POLL)
                break
            except queue.Full:
                continue
        self._thread.join()
        self._raise()

    def close(self) -> None:
        """Stop: items not yet started are dropped; the one in progress finishes."""
        self._stop.set()
        self._thread.join()
