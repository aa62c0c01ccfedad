"""Every query a store runs has an index declared at start-up (production runs MongoDB, where the indexes serve
the reads; locally FerretDB does too, with deploy/ferretdb/pushdown.patch, for conditions on indexed fields that
are string equalities, $in of strings and date ranges).

The stores are read as source: each `create_index` (and `ensure_outbox_indexes`) of a collection, and each
find / count / delete / update on it with its filter's fields and its sort. A query is served when it asks only
by `_id`, or when a declared index of that collection starts with one of its filter fields (or, with no filter,
with its sort field). Queries the source cannot tell (a filter built elsewhere) and the few that read a
whole collection on purpose are listed below with the reason; anything else unserved fails the test.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODULES = [*sorted(ROOT.glob("services/*/store.py")),
           *(ROOT / "shared" / name for name in ("audit.py", "erasure.py", "notify.py", "outbox.py", "concurrency.py"))]
QUERIES = {"find", "find_one", "count_documents", "delete_many", "update_many", "aggregate"}

# (module, function) -> why its query needs no index of its own.
UNSERVED_ON_PURPOSE = {
    ("job_match/store.py", "count_listings"): "counts every listing (start-up: is the sample loaded?)",
    ("job_match/store.py", "all_listings"): "loads every listing into the matcher's index at start-up",
    ("school_intake/store.py", "all_seats"): "the seat pools at start-up: every seat",
    ("registration/store.py", "search_cases"): "part of a name ($regex): no index serves it; limited to 50",
    ("shared/audit.py", "query"): "filter in a variable: case_ids or actor (an index each, then at)",
    ("shared/notify.py", "refused_recipients"): "filter in a variable: refused_recipient, kind (an index)",
    ("shared/notify.py", "failures"): "the admins' list of failed mails: small, newest 200",
    ("shared/notify.py", "send_due"): "counts the pending mails for the metrics: only unsent mails are there",
    ("shared/outbox.py", "_scan"): "filter in a variable: outbox_added_at (ensure_outbox_indexes)",
    ("shared/outbox.py", "_delete_old"): "selector in a variable: at, on the turns collections (an index each)",
    ("shared/outbox.py", "update_many"): "the watched collection's pass-through: its callers are scanned",
    ("school_intake/store.py", "seats_taken"): "groups every seat by pool at start-up",
    ("school_intake/store.py", "waitlist_counts"): "pipeline in a variable: $match status, kind (an index)",
}


@dataclass
class Query:
    module: str
    function: str
    collection: str
    fields: list[str]
    sort: list[str] = field(default_factory=list)
    dynamic: bool = False


def _collection(node: ast.expr, aliases: dict[str, list[str]]) -> list[str]:
    """`self.tasks` -> ["tasks"]; a loop variable over self attributes -> their names; `self.log` etc."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "self":
        return [node.attr]
    if isinstance(node, ast.Attribute) and node.attr in ("collection", "unwatched"):
        return _collection(node.value, aliases)
    if isinstance(node, ast.Name):
        return aliases.get(node.id, [node.id])
    return []


def _fields(node: ast.expr, constants: dict[str, ast.expr]) -> list[str] | None:
    """The filter's field names (None when the source cannot tell)."""
    if isinstance(node, ast.Name) and node.id in constants:
        node = constants[node.id]
    if isinstance(node, ast.IfExp):  # `{...} if window else {}`: either may be asked
        body, orelse = _fields(node.body, constants), _fields(node.orelse, constants)
        return None if body is None or orelse is None else body + orelse
    if not isinstance(node, ast.Dict):
        return None
    found: list[str] = []
    for key, value in zip(node.keys, node.values, strict=True):
        if key is None:  # **spread
            spread = _fields(value, constants)
            if spread is None:
                return None
            found += spread
        elif isinstance(key, ast.Constant) and key.value == "$or" and isinstance(value, ast.List):
            for branch in value.elts:
                found += _fields(branch, constants) or []
        elif isinstance(key, ast.Constant) and isinstance(key.value, str):
            found.append(key.value)
    return found


def _sort_keys(call: ast.Call) -> list[str]:
    arg = call.args[0] if call.args else None
    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
        return [arg.value]
    if isinstance(arg, ast.List):
        return [e.elts[0].value for e in arg.elts if isinstance(e, ast.Tuple) and isinstance(e.elts[0], ast.Constant)]
    return []


def scan(path: Path) -> tuple[dict[str, list[list[str]]], list[Query]]:
    tree = ast.parse(path.read_text())
    module = str(path.relative_to(ROOT)).removeprefix("services/")
    constants = {t.id: n.value for n in tree.body if isinstance(n, ast.Assign) for t in n.targets
                 if isinstance(t, ast.Name)}
    indexes: dict[str, list[list[str]]] = {}
    queries: list[Query] = []
    for function in (n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        aliases: dict[str, list[str]] = {}
        # A filter built in a local variable first (`query = {...}`): its literal keys (keys added later are not seen).
        local = {**constants, **{t.id: n.value for n in ast.walk(function) if isinstance(n, ast.Assign)
                                 for t in n.targets if isinstance(t, ast.Name)},
                 **{n.target.id: n.value for n in ast.walk(function)
                    if isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name) and n.value is not None}}
        for loop in (n for n in ast.walk(function) if isinstance(n, ast.For | ast.comprehension)):
            if isinstance(loop.target, ast.Name) and isinstance(loop.iter, ast.Tuple | ast.List):
                aliases[loop.target.id] = [c for e in loop.iter.elts for c in _collection(e, {})]
        sorts = {id(n.func.value): _sort_keys(n) for n in ast.walk(function) if isinstance(n, ast.Call)
                 and isinstance(n.func, ast.Attribute) and n.func.attr == "sort"}
        for call in (n for n in ast.walk(function) if isinstance(n, ast.Call)):
            name = call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")
            if name == "create_index" and isinstance(call.func, ast.Attribute) and call.args:
                keys = [e.elts[0].value for e in call.args[0].elts] if isinstance(call.args[0], ast.List) else []
                for collection in _collection(call.func.value, aliases):
                    indexes.setdefault(collection, []).append(keys)
            elif name == "ensure_outbox_indexes" and call.args:
                for collection in _collection(call.args[0], aliases):
                    indexes.setdefault(collection, []).append(["outbox_added_at"])
            elif name in QUERIES and isinstance(call.func, ast.Attribute):
                fields = _fields(call.args[0], local) if call.args else []
                if name == "aggregate" and call.args and isinstance(call.args[0], ast.Name):
                    fields = None
                for collection in _collection(call.func.value, aliases):
                    queries.append(Query(module, function.name, collection, fields or [],
                                         sorts.get(id(call), []), dynamic=fields is None))
    return indexes, queries


def served(query: Query, indexes: dict[str, list[list[str]]]) -> bool:
    if query.dynamic:
        return False
    asked = [f for f in query.fields if not f.startswith("$")]
    if asked and all(f == "_id" for f in asked):
        return True
    firsts = {keys[0] for keys in indexes.get(query.collection, []) if keys}
    # An index on the sort serves a query whose filter no index starts with (MongoDB walks it and filters).
    return bool(firsts & set(asked)) or (bool(query.sort) and query.sort[0] in firsts)


def test_every_store_query_has_an_index_declared_for_it():
    indexes: dict[str, list[list[str]]] = {}
    queries: list[Query] = []
    for path in MODULES:
        found, asked = scan(path)
        for collection, keys in found.items():
            indexes.setdefault(collection, []).extend(keys)
        queries += asked
    assert len(queries) >= 40 and len(indexes) >= 15  # the scan sees the stores (it would see nothing if stale)
    unserved = sorted({f"{q.module}:{q.function} {q.collection} {q.fields} sort {q.sort}" for q in queries
                       if not served(q, indexes) and (q.module, q.function) not in UNSERVED_ON_PURPOSE
                       and (f"shared/{q.module.rsplit('/', 1)[-1]}", q.function) not in UNSERVED_ON_PURPOSE})
    assert not unserved, "declare an index (or say why none is needed):\n" + "\n".join(unserved)


def test_the_scan_tells_a_served_query_from_an_unserved_one():
    indexes = {"tasks": [["case_id"], ["status", "due_date"]]}
    assert served(Query("m", "f", "tasks", ["case_id"]), indexes)
    assert served(Query("m", "f", "tasks", ["_id"]), indexes)
    assert served(Query("m", "f", "tasks", [], ["status"]), indexes)
    assert not served(Query("m", "f", "tasks", ["unit_id"]), indexes)
    assert not served(Query("m", "f", "tasks", [], ["created_at"]), indexes)
    assert served(Query("m", "f", "tasks", ["erasure"], ["status"]), indexes)
    assert not served(Query("m", "f", "tasks", ["status"], dynamic=True), indexes)
