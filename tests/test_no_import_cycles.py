"""No import cycle anywhere in the project, TYPE_CHECKING imports included.

Two modules that import each other are one module split in two (issue 16: `BankCore` and its
duties were one class across such a cycle). import-linter's layers keep the packages in order;
this keeps the modules inside each package in order too: the strongly connected components of
the module graph (Tarjan) must all be single modules.
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("messages", "storage", "business_time", "ledger", "client", "gateway", "sim", "pboc_sim", "bank_sim",
            "treasury_sim", "runner", "bench", "tgw")


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The module groups that import each other (strongly connected components of size > 1)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        # iterative Tarjan: (module, its imports still to visit)
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            module, todo = work[-1]
            step = next(todo, None)
            if step is not None:
                if step not in index:
                    index[step] = low[step] = counter
                    counter += 1
                    stack.append(step)
                    on_stack.add(step)
                    work.append((step, iter(sorted(graph.find_modules_directly_imported_by(step)))))
                elif step in on_stack:
                    low[module] = min(low[module], index[step])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[module])
            if low[module] == index[module]:
                group = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.append(member)
                    if member == module:
                        break
                if len(group) > 1:
                    found.append(sorted(group))
    return found


def _graph(edges: dict[str, list[str]]) -> grimp.ImportGraph:
    graph = grimp.ImportGraph()
    for importer, imported in edges.items():
        graph.add_module(importer)
        for other in imported:
            graph.add_import(importer=importer, imported=other)
    return graph


def test_the_cycle_finder_sees_a_cycle_through_three_modules_and_none_in_a_chain() -> None:
    assert cycles(_graph({"p.a": ["p.b"], "p.b": ["p.c"], "p.c": ["p.a"], "p.d": ["p.a"]})) == [["p.a", "p.b", "p.c"]]
    assert cycles(_graph({"p.a": ["p.b"], "p.b": ["p.c"], "p.c": []})) == []


@pytest.fixture(scope="module")
def project_graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES, exclude_type_checking_imports=False)


def test_no_module_imports_one_that_imports_it_back(project_graph: grimp.ImportGraph) -> None:
    found = cycles(project_graph)
    detail = []
    for group in found:
        for a in group:
            for b in group:
                if project_graph.direct_import_exists(importer=a, imported=b):
                    lines = [d["line_contents"] for d in project_graph.get_import_details(importer=a, imported=b)]
                    detail.append(f"{a} -> {b}: {lines}")
    assert not found, "import cycles:\n" + "\n".join(detail)
