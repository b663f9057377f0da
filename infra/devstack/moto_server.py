#!/usr/bin/env python3
"""moto's server, with DynamoDB operations made atomic with respect to each other.

Real DynamoDB applies a conditional write or a transaction atomically: of two concurrent
`TransactWriteItems` conditioned on the same item's state, exactly one succeeds. moto's server
handles requests on several threads and checks conditions and applies writes without a lock,
so under load both can pass (seen on 2026-11-23: two concurrent claims of one message both
won). This launcher serialises every DynamoDB backend call behind one lock — the guarantee the
real service gives, nothing more — and then runs moto's own server unchanged.

It also makes `TransactWriteItems` cost what the transaction touches rather than the whole
table: moto 5 snapshots every table a transaction names with `copy.deepcopy` (to roll back on a
cancelled transaction), which made one transaction against a table of 2 000 messages take a
quarter of a second. Here only the items the transaction names are snapshotted, and restored
through the backend's own put/delete if it is cancelled — the same all-or-nothing outcome.

A cancelled transaction leaves no record on the tables' streams (moto appends one per write
it tried, and per write undone): the real service writes none, and the dev stack's event
publisher reads those streams.

And it makes a `Query` read what it asks for: moto 5 lists and sorts every item of the table
(comparing key values in Python) for each query, then keeps those with the asked hash key and
sorts them again by the range key. A query's cost grew with the table: a 2 000-person campaign
spent most of its time there, and at 10 000 the scheduler's sixteen due-index queries every
two seconds kept moto busy. Here a base-table query lists its partition's items, and an index
query the items whose index hash key matches, both unsorted: the query sorts what it keeps
itself (by range key, or by the index's keys), so the answer is the same. An index query finds
its items through a map from the index's hash key value to the items' keys, kept beside each
table (built at the first query of that attribute, then updated by every put, update and delete
of an item), as DynamoDB's own index is: the due index's sixteen queries every two seconds no
longer read all of a 10 000-message table each. Such a query also keeps only the items its range
condition keeps before moto sorts and sizes them (moto checks that condition last): a due-index
shard of 600 messages planned for later answers with the few due now.

And it makes SQS cost what a call asks for when a queue holds thousands of messages (the dev
stack's queue of bus events after a 10 000-record consent import): a receive lists the visible
messages reading the clock once, not twice per message, and a batch delete goes through the
queue once for all its entries, not twice per entry.

And it answers faster for every request: moto's dispatcher lists its own package directory
(some 150 `isdir` calls) to route each request, behind a lock; the list is read once here. The
per-request access log line (werkzeug's) is not written; warnings and errors still are.

And it makes EventBridge's `PutEvents` cost a rule match, not a parser build: for every event
and target moto reads the target's input paths with `jsonpath_ng.ext.parse`, which builds a new
LALR parser table per call (a tenth of a second or more each, ten paths per event: 10 000
consent changes published kept moto busy for minutes). The parsed paths are kept, by their
text — the same expressions, the same answers.

Usage: python3 infra/devstack/moto_server.py -H 127.0.0.1 -p PORT   (moto.server's arguments)
"""
import copy
import functools
import inspect
import logging
import threading
import types

import jsonpath_ng.ext as _jsonpath
import moto.backends as _backends
import moto.dynamodb.models as _models
from moto import server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.dynamodbstreams.models import DynamoDBStreamsBackend
from moto.core.utils import unix_time_millis
from moto.sqs.models import Queue, SQSBackend

_LOCK = threading.RLock()

# moto imports `parse` from the module at each call: the cached one is what it finds.
_jsonpath.parse = functools.lru_cache(maxsize=1024)(_jsonpath.parse)


def _no_table_copy(value, memo=None):
    # The snapshot of a whole table is what `_transact_write_items` below replaces.
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_models.copy = types.SimpleNamespace(deepcopy=_no_table_copy, copy=copy.copy)
_original_transact = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    saved = []
    # A cancelled transaction writes no stream record in DynamoDB: remember where each
    # table's stream stood, to drop what the attempt (and its undoing) appended.
    streams = {
        name: (table.stream_shard, len(table.stream_shard.items))
        for name, table in self.tables.items()
        if getattr(table, "stream_shard", None) is not None
    }
    for entry in transact_items:
        op = next(iter(entry.values()))
        table_name = op.get("TableName")
        if table_name not in self.tables:
            continue
        table = self.tables[table_name]
        if "Key" in op:
            key = op["Key"]
        else:
            attrs = [table.hash_key_attr] + ([table.range_key_attr] if table.range_key_attr else [])
            key = {a: op["Item"][a] for a in attrs if a in op.get("Item", {})}
        current = self.get_item(table_name, key)
        saved.append((table_name, key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    try:
        return _original_transact(self, transact_items)
    except Exception:
        for table_name, key, attrs in reversed(saved):
            if attrs is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, attrs)
        for shard, length in streams.values():
            del shard.items[length:]
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

_PARTITION = threading.local()
_original_all_items = Table.all_items
_original_query = Table.query


def _all_items(self):
    hash_key = getattr(_PARTITION, "key", None)
    conditions = getattr(_PARTITION, "conditions", None)
    if hash_key is not None:
        # `get`, not `[]`: `items` is a defaultdict, and a read must not create a partition.
        partition = self.items.get(hash_key)
        if partition is None:
            return []
        return list(partition.values()) if self.range_key_attr else [partition]
    if conditions:
        name, value = conditions[0]
        found = (_item_at(self, key) for key in _keys_by(self, name).get(value, ()))
        kept = [item for item in found if item is not None and all(_has(item, n, v) for n, v in conditions)]
        in_range = getattr(_PARTITION, "range", None)
        if in_range is None:
            return kept
        attribute, comparison, values = in_range
        return [item for item in kept if _in_range(item.attrs.get(attribute), comparison, values)]
    return _original_all_items(self)


def _item_at(table, key):
    hash_value, range_value = key
    partition = table.items.get(hash_value)
    if partition is None or range_value is None:
        return partition
    return partition.get(range_value)


def _keys_by(table, name):
    """The keys of `table`'s items by their value of attribute `name`, kept up to date."""
    maps = table.__dict__.setdefault("_polite_keys_by", {})
    if name not in maps:
        by_value, value_of = {}, {}
        for partition in table.items.values():
            for item in partition.values() if table.range_key_attr else [partition]:
                _place(by_value, value_of, (item.hash_key, item.range_key), item.attrs.get(name))
        maps[name] = (by_value, value_of)
    return maps[name][0]


def _place(by_value, value_of, key, value):
    old = value_of.pop(key, None)
    if old is not None:
        keys = by_value[old]
        keys.discard(key)
        if not keys:
            del by_value[old]
    if value is not None:
        value_of[key] = value
        by_value.setdefault(value, set()).add(key)


def _reindex(table, hash_value, range_value):
    maps = table.__dict__.get("_polite_keys_by")
    if not maps:
        return
    key = (hash_value, range_value if table.range_key_attr else None)
    item = _item_at(table, key)
    for name, (by_value, value_of) in maps.items():
        _place(by_value, value_of, key, item.attrs.get(name) if item is not None else None)


def _in_range(value, comparison, values):
    # moto drops an item without the attribute, or whose value fails the comparison.
    return value is not None and value.compare(comparison, values)


def _has(item, name, value):
    # DynamoType's `==` reads the other side's type: compare only with a value.
    found = item.attrs.get(name)
    return found is not None and found == value


_QUERY_SIGNATURE = inspect.signature(_original_query)


def _query(self, *args, **kwargs):
    called = _QUERY_SIGNATURE.bind(self, *args, **kwargs).arguments
    if called.get("index_name"):
        # moto keeps an index query's items by these same conditions (all of them, or every
        # item when there are none), and then by the range condition, which it checks after
        # sorting and sizing every item kept so far: only the items it would keep go through.
        _PARTITION.conditions = called.get("hash_key_conditions")
        _PARTITION.range = _index_range(self, called)
    elif called.get("hash_key") is not None:
        _PARTITION.key = called.get("hash_key")
    try:
        return _original_query(self, *args, **kwargs)
    finally:
        _PARTITION.key = None
        _PARTITION.conditions = None
        _PARTITION.range = None


def _index_range(table, called):
    """(attribute, comparison, values) of an index query's range condition on its one range
    key, the way moto checks it; None when there is nothing to check or moto reads it another
    way (several range keys)."""
    comparison = called.get("range_comparison")
    conditions = called.get("range_key_conditions") or []
    if not comparison or len(conditions) > 1:
        return None
    ranges = [k["AttributeName"] for k in table.get_index(called["index_name"]).schema if k["KeyType"] == "RANGE"]
    if len(ranges) != 1:
        return None
    return ranges[0], comparison, called.get("range_objs") or []


Table.all_items = _all_items
Table.query = _query
_original_table_put = Table.put_item
_original_table_delete = Table.delete_item
_original_update = DynamoDBBackend.update_item


def _table_put(self, item_attrs, *args, **kwargs):
    item = _original_table_put(self, item_attrs, *args, **kwargs)
    _reindex(self, item.hash_key, item.range_key)
    return item


def _table_delete(self, hash_key, range_key):
    try:
        return _original_table_delete(self, hash_key, range_key)
    finally:
        _reindex(self, hash_key, range_key)


def _update_item(self, table_name, key, *args, **kwargs):
    # An update changes its item in place (or puts a new one): index it as it now is, also
    # when a condition refused the update (nothing changed, the same entry is kept).
    try:
        return _original_update(self, table_name, key, *args, **kwargs)
    finally:
        table = self.tables.get(table_name)
        if table is not None and table.hash_key_attr in key:
            range_value = DynamoType(key[table.range_key_attr]) if table.range_key_attr in key else None
            _reindex(table, DynamoType(key[table.hash_key_attr]), range_value)


Table.put_item = _table_put
Table.delete_item = _table_delete
DynamoDBBackend.update_item = _update_item

# The dispatcher routes each request by the names of moto's own modules: read them once.
_MOTO_MODULES = frozenset(_backends.list_of_moto_modules())
_backends.list_of_moto_modules = lambda: _MOTO_MODULES
# Each request's access line; moto's warnings and errors are still logged.
logging.getLogger("werkzeug").setLevel(logging.WARNING)

_UNCOUNTED = threading.local()
_COUNTERS = (
    "approximate_number_of_messages",
    "approximate_number_of_messages_delayed",
    "approximate_number_of_messages_not_visible",
)


def _counter(prop):
    def get(self):
        # Nobody reads the count while `_UNCOUNTED` is on (see `_uncounted`).
        return 0 if getattr(_UNCOUNTED, "on", False) else prop.fget(self)

    return property(get)


for _name in _COUNTERS:
    setattr(Queue, _name, _counter(getattr(Queue, _name)))


def _uncounted(method, wants_counts=lambda *args, **kwargs: False):
    @functools.wraps(method)
    def call(*args, **kwargs):
        before = getattr(_UNCOUNTED, "on", False)
        _UNCOUNTED.on = not wants_counts(*args, **kwargs)
        try:
            return method(*args, **kwargs)
        finally:
            _UNCOUNTED.on = before

    return call


def _asks_for_counts(self, queue_name, attribute_names):
    return any(name == "All" or name.startswith("Approximate") for name in attribute_names)



def _visible_messages(self):
    # moto's `messages` reads the clock twice per message (`visible`, `delayed`) on every
    # receive and every long-poll wake-up: the same test with one reading.
    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and now >= m.delayed_until]


Queue.messages = property(_visible_messages)


def _delete_message_batch(self, queue_name, receipts):
    # moto deletes each entry with two passes over the queue and a copy of it; here one pass
    # for the batch, with the same answers (an unknown handle is ReceiptHandleIsInvalid, one
    # deleted before is fine).
    queue = self.get_queue(queue_name)
    wanted = {r["ReceiptHandle"] for r in receipts}
    found = {h for h in wanted if h in queue.deleted_messages}
    kept = []
    for message in queue._messages:
        handles = message.all_receipt_handles
        hit = wanted.intersection(handles)
        if hit:
            found |= hit
            queue.pending_messages.discard(message)
            queue.deleted_messages.update(handles)
        else:
            kept.append(message)
    queue._messages = kept
    success, errors = [], []
    for r in receipts:
        if r["ReceiptHandle"] in found:
            success.append(r["Id"])
        else:
            errors.append(
                {
                    "Id": r["Id"],
                    "SenderFault": True,
                    "Code": "ReceiptHandleIsInvalid",
                    "Message": f'The input receipt handle "{r["ReceiptHandle"]}" is not a valid receipt handle.',
                }
            )
    return success, errors


SQSBackend.delete_message_batch = _delete_message_batch

# SendMessage reads one attribute; ReceiveMessage reads MessageRetentionPeriod per message.
SQSBackend.send_message = _uncounted(SQSBackend.send_message)
SQSBackend.get_queue_attributes = _uncounted(SQSBackend.get_queue_attributes, _asks_for_counts)


def _serialised(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return call


for _name, _method in list(vars(DynamoDBBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _serialised(_method))

# Stream reads see a transaction whole or not at all.
for _name, _method in list(vars(DynamoDBStreamsBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(DynamoDBStreamsBackend, _name, _serialised(_method))

if __name__ == "__main__":
    server.main()
