"""Work started and not awaited (deliveries, verifications), logged when it fails, and waited
for or cancelled at shutdown: the WebSub hub's and the fediverse deliveries' alike."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


class Background:
    def __init__(self, what: str) -> None:
        self.what = what  # named in the log line of a failure
        self.tasks: set[asyncio.Task[None]] = set()

    def spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(self._logged(work))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _logged(self, work: Coroutine[Any, Any, None]) -> None:
        try:
            await work
        except Exception:
            log.exception("%s failed", self.what)

    async def drain(self) -> None:
        """Wait until nothing is under way, work started meanwhile included."""
        while self.tasks:
            await asyncio.gather(*tuple(self.tasks))

    async def aclose(self) -> None:
        """Cancel what is under way (shutdown without waiting)."""
        for task in tuple(self.tasks):
            task.cancel()
        await asyncio.gather(*tuple(self.tasks), return_exceptions=True)
