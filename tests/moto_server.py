#!/usr/bin/env python3
"""moto's server, with DynamoDB operations made atomic with respect to each other.

Real DynamoDB applies a conditional write or a transaction atomically: of two concurrent
`TransactWriteItems` conditioned on the same item's state, exactly one succeeds. moto's server
handles requests on several threads and checks conditions and applies writes without a lock,
so under load both can pass (seen on 2026-11-23: two concurrent claims of one message both
won). This launcher serialises every DynamoDB backend call behind one lock — the guarantee the
real service gives, nothing more — and then runs moto's own server unchanged.

Usage: python3 tests/moto_server.py -H 127.0.0.1 -p PORT   (moto.server's arguments)
"""
import functools
import threading

from moto import server
from moto.dynamodb.models import DynamoDBBackend

_LOCK = threading.RLock()


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
