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

Usage: python3 infra/devstack/moto_server.py -H 127.0.0.1 -p PORT   (moto.server's arguments)
"""
import copy
import functools
import threading
import types

import moto.dynamodb.models as _models
from moto import server
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_LOCK = threading.RLock()


def _no_table_copy(value, memo=None):
    # The snapshot of a whole table is what `_transact_write_items` below replaces.
    return value if isinstance(value, Table) else copy.deepcopy(value, memo)


_models.copy = types.SimpleNamespace(deepcopy=_no_table_copy, copy=copy.copy)
_original_transact = DynamoDBBackend.transact_write_items


def _transact_write_items(self, transact_items):
    saved = []
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
        raise


DynamoDBBackend.transact_write_items = _transact_write_items


def _serialised(method):
    @functools.wraps(method)
    def call(*args, **kwargs):
        with _LOCK:
            return method(*args, **kwargs)

    return call


for _name, _method in list(vars(DynamoDBBackend).items()):
    if callable(_method) and not _name.startswith("_"):
        setattr(DynamoDBBackend, _name, _serialised(_method))

if __name__ == "__main__":
    server.main()
