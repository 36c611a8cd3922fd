"""moto's standalone server with DynamoDB requests handled one at a time.

AWS: a cancelled TransactWriteItems makes "no changes ... at all" ("the actions are completed
atomically so that either all of them succeed or none of them succeeds"). moto 5 undoes a cancelled
transaction by putting back a copy of each table it touched, taken when the transaction began; its
server is threaded, so any write another client made to those tables meanwhile is undone too
(measured: an acknowledged PutItem gone after a concurrent cancelled transaction). The fleet's
group claims are cancelled whenever an event id was seen before, so under the fault suite a dedup
`done` could turn back into `claimed`. Serialising moto's DynamoDB backend restores what AWS
documents; nothing else about moto changes. usage: moto_server.py -H HOST -p PORT (as moto_server)
"""

import functools
import re
import sys
import threading

from moto.dynamodb.models import DynamoDBBackend
from moto.server import main

_LOCK = threading.RLock()
_CALLS = (
    "put_item", "get_item", "update_item", "delete_item", "query", "scan",
    "batch_get_item", "batch_write_item", "transact_write_items", "transact_get_items",
)


def _serialised(f):
    @functools.wraps(f)
    def call(*args, **kwargs):
        with _LOCK:
            return f(*args, **kwargs)
    return call


for _name in _CALLS:
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())
