"""An in-memory stand-in for the few MongoDB operations the consumers' stores use.

For fast unit tests of the consumers' planning (``tests/unit/*/test_*_fast.py``): the real stores
(``services.ingest.store``, ``services.translate.store``) run on it unchanged. It covers only
what they do on the hot path (point reads and writes by ``_id``, ``$set``/``$inc``/``$max``,
inserts that clash on a taken ``_id``, equality and ``$lte`` filters); anything else raises, so
a store that starts using more fails here loudly instead of passing on a wrong answer. The
real-stack tests (``tests/integration``) remain the word on what MongoDB and FerretDB do.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

from pymongo import ReturnDocument, UpdateOne
from pymongo.errors import BulkWriteError

Document = dict[str, Any]


def _matches(doc: Mapping[str, Any], query: Mapping[str, Any]) -> bool:
    for field, wanted in query.items():
        value = doc.get(field)
        if isinstance(wanted, Mapping):
            for op, operand in wanted.items():
                if op == "$in":
                    if value not in operand:
                        return False
                    continue
                if op != "$lte":
                    raise NotImplementedError(f"query operator {op}")
                if value is None or not value <= operand:
                    return False
        elif value != wanted:
            return False
    return True


def _set_path(doc: Document, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        doc = doc.setdefault(part, {})
    doc[last] = value


def _apply(doc: Document, update: Mapping[str, Any]) -> None:
    for op, fields in update.items():
        for path, value in fields.items():
            if op == "$set":
                _set_path(doc, path, copy.deepcopy(value))
            elif op == "$inc":
                doc[path] = doc.get(path, 0) + value
            elif op == "$max":
                doc[path] = value if doc.get(path) is None else max(doc[path], value)
            else:
                raise NotImplementedError(f"update operator {op}")


class MemoryCollection:
    def __init__(self, name: str) -> None:
        self.name = name
        self.docs: dict[Any, Document] = {}

    async def find_one(
        self, query: Mapping[str, Any], projection: Mapping[str, Any] | None = None
    ) -> Document | None:
        found = next((d for d in self.docs.values() if _matches(d, query)), None)
        return copy.deepcopy(found)

    async def find(
        self,
        query: Mapping[str, Any] | None = None,
        projection: Mapping[str, Any] | None = None,
        batch_size: int = 0,
    ) -> AsyncIterator[Document]:
        for doc in list(self.docs.values()):
            if _matches(doc, query or {}):
                yield copy.deepcopy(doc)

    async def insert_many(self, docs: Iterable[Document], ordered: bool = True) -> None:
        errors = []
        for n, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": n, "code": 11000, "errmsg": "duplicate key"})
            else:
                self.docs[doc["_id"]] = copy.deepcopy(doc)
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    async def update_one(
        self, query: Mapping[str, Any], update: Mapping[str, Any], upsert: bool = False
    ) -> None:
        await self.find_one_and_update(query, update, upsert=upsert)

    async def update_many(self, query: Mapping[str, Any], update: Mapping[str, Any]) -> None:
        for doc in self.docs.values():
            if _matches(doc, query):
                _apply(doc, update)

    async def find_one_and_update(
        self,
        query: Mapping[str, Any],
        update: Mapping[str, Any],
        upsert: bool = False,
        return_document: bool = ReturnDocument.BEFORE,  # AFTER is True
    ) -> Document | None:
        doc = next((d for d in self.docs.values() if _matches(d, query)), None)
        before = copy.deepcopy(doc)
        if doc is None:
            if not upsert:
                return None
            doc = self.docs[query["_id"]] = {"_id": query["_id"]}
        _apply(doc, update)
        return copy.deepcopy(doc) if return_document else before

    async def replace_one(
        self, query: Mapping[str, Any], replacement: Document, upsert: bool = False
    ) -> None:
        if query["_id"] in self.docs or upsert:
            self.docs[query["_id"]] = {"_id": query["_id"], **copy.deepcopy(replacement)}

    async def delete_one(self, query: Mapping[str, Any]) -> None:
        self.docs.pop(query["_id"], None)

    async def bulk_write(self, requests: Iterable[UpdateOne], ordered: bool = True) -> None:
        for request in requests:
            update = request._doc  # pymongo keeps the update as given
            if not isinstance(update, Mapping):
                raise NotImplementedError("an update pipeline")
            await self.update_one(request._filter, update, upsert=bool(request._upsert))


class MemoryDatabase:
    """``db[name]``, as :class:`pymongo.asynchronous.database.AsyncDatabase` answers it."""

    def __init__(self) -> None:
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection(name))
