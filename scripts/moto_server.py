"""moto's standalone server with DynamoDB requests handled one at a time.

AWS: a cancelled TransactWriteItems makes "no changes ... at all" ("the actions are completed
atomically so that either all of them succeed or none of them succeeds"). moto 5 undoes a cancelled
transaction by putting back a copy of each table it touched, taken when the transaction began; its
server is threaded, so any write another client made to those tables meanwhile is undone too
(measured: an acknowledged PutItem gone after a concurrent cancelled transaction). The fleet's
group claims are cancelled whenever an event id was seen before, so under the fault suite a dedup
`done` could turn back into `claimed`. Serialising moto's DynamoDB backend restores what AWS
documents.

moto also copies every table a transaction touches, whole, before applying it (its undo), so each
`TransactWriteItems` costs time in proportion to the size of those tables; AWS has no such cost. In
the burst bench that copy was a third of moto's busy time (py-spy, docs/PERFORMANCE.md), which
penalises exactly the group writes the fleet uses. `TransactWriteItems` here is evaluated as AWS
describes it instead: every condition is checked first against the current items, and a failed
one cancels the transaction with nothing written (no undo needed); only then are the writes
applied, keeping a copy of just the items written so that an error while applying (an invalid
update expression) puts them back. Responses and errors are moto's own. Nothing else about moto
changes. usage: moto_server.py -H HOST -p PORT (as moto_server)
"""

import functools
import re
import sys
import threading

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
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


def _transact_write_items(self, transact_items):
    """TransactWriteItems: all conditions checked, then all writes applied (see above)."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen, errors, writes = set(), [], []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException()
        op_type, op = next(iter(entry.items()))
        if op_type not in ("ConditionCheck", "Put", "Delete", "Update"):
            raise MockValidationException("Unsupported transaction operation")
        table_name = op["TableName"]
        table = self.get_table(table_name)
        if op_type == "Put":
            attrs = op["Item"]
            key = {table.hash_key_attr: attrs[table.hash_key_attr]}
            if table.range_key_attr is not None:
                key[table.range_key_attr] = attrs[table.range_key_attr]
        else:
            key = op["Key"]
        ident = (table_name, str(sorted(key.items())))
        if ident in seen:
            raise MultipleTransactionsException()
        seen.add(ident)
        current = self.get_item(table_name, key)
        cond = op.get("ConditionExpression")
        names = op.get("ExpressionAttributeNames")
        values = op.get("ExpressionAttributeValues")
        if cond is not None and not get_filter_expression(cond, names, values).expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            errors.append(("ConditionalCheckFailed", "The conditional request failed", old))
        else:
            errors.append((None, None, None))
        if op_type != "ConditionCheck":
            before = current.to_json()["Attributes"] if current else None
            writes.append((op_type, op, table_name, key, names, values, before))
    if any(code is not None for code, _, _ in errors):
        raise TransactionCanceledException(errors)
    applied = []
    try:
        for op_type, op, table_name, key, names, values, before in writes:
            # Conditions were checked above, against these same items (no write in between:
            # DynamoDB calls are serialised), so they are not evaluated again.
            if op_type == "Put":
                self.put_item(table_name, op["Item"])
            elif op_type == "Delete":
                self.delete_item(table_name, key)
            else:
                self.update_item(
                    table_name,
                    key,
                    update_expression=op["UpdateExpression"],
                    expression_attribute_names=names,
                    expression_attribute_values=values,
                )
            applied.append((table_name, key, before))
    except Exception:
        for table_name, key, before in reversed(applied):
            if before is None:
                self.delete_item(table_name, key)
            else:
                self.put_item(table_name, before)
        raise


DynamoDBBackend.transact_write_items = _transact_write_items

for _name in _CALLS:
    setattr(DynamoDBBackend, _name, _serialised(getattr(DynamoDBBackend, _name)))

if __name__ == "__main__":
    sys.argv[0] = re.sub(r"(-script\.pyw|\.exe)?$", "", sys.argv[0])
    sys.exit(main())
