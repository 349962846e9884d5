"""The evaluation plan of a form: what the loader checks and the validator runs.

Built once per form and cached on it: the nodes in dependency order (every relevance and
calculation after what it uses), each node's container, the record keys at each repeat
level, and every expression of the form parsed. The loader uses the order to refuse a form
whose calculations depend on themselves (`CycleError`); the validator walks it for every
record. Keeping it here, below both, is what lets `forms.loader` and `forms.validation`
each import it without importing each other.

Choice filters name columns of the choices sheet bare (`district = ${district}`);
`rewrite_choice_filter` turns those names into references the expression engine reads. It
lives in `forms.expressions` (the parser rewrites instance() lookups' conditions with it) and
is re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from forms.expressions import CHOICE_COLUMN_PREFIX, Expression, rewrite_choice_filter
from forms.graph import topological_order
from forms.model import Choice, Form, Group, Node, Question, Repeat

__all__ = [
    "CHOICE_COLUMN_PREFIX",
    "CycleError",
    "Plan",
    "Step",
    "build_plan",
    "dependency_order",
    "rewrite_choice_filter",
]

Step = tuple[Any, str, str | None, int, Any, Any]


@dataclass
class Plan:
    """Everything about a form the validator looks up, as plain dicts (this is a hot path:
    a pydantic model's private attributes are much slower to reach)."""

    order: list[Node]  # nodes whose relevance or value is computed, dependencies first
    parent: dict[str, Node | None]
    names_at_level: dict[str | None, set[str]]  # repeat name (None = top) -> record keys
    checked: list[Question]  # questions to check, document order
    nodes: dict[str, Node]
    choices: dict[str, dict[str, Choice]]
    expressions: dict[str, Expression]  # every expression text of the form, parsed
    repeats_with_count: list[Repeat]
    # With allow_choice_duplicates a list may hold one name twice (king county under two
    # states): every choice of that name, for the choice filter.
    duplicate_choices: dict[str, dict[str, list[Choice]]] = field(default_factory=dict)
    # `order` with what computing each node needs, looked up once per form.
    steps: list[Step] = field(default_factory=list)

    def expression(self, text: str) -> Expression:
        return self.expressions[text]


class CycleError(ValueError):
    def __init__(self, message: str, node_name: str):
        super().__init__(message)
        self.node_name = node_name


def dependency_order(form: Form) -> list[Node]:
    """Nodes in an order where every relevance and calculation comes after what it uses.

    Raises CycleError (a ValueError) naming a node on a cycle, such as a calculation that
    depends on itself through another.
    """
    return build_plan(form).order


def build_plan(form: Form) -> Plan:
    cached = form._engine_cache.get("plan")
    if cached is not None:
        return cached

    parent: dict[str, Node | None] = {}
    names_at_level: dict[str | None, set[str]] = {None: set()}

    def visit(nodes: list[Node], container: Node | None, level: str | None) -> None:
        for node in nodes:
            parent[node.name] = container
            names_at_level[level].add(node.name)
            if isinstance(node, Repeat):
                names_at_level[node.name] = set()
                visit(node.children, node, node.name)
            elif isinstance(node, Group):
                # Groups don't appear in records; their children sit at the same level.
                names_at_level[level].discard(node.name)
                visit(node.children, node, level)

    visit(form.children, None, None)

    nodes = list(form.walk())
    position = {node.name: i for i, node in enumerate(nodes)}
    depends_on: dict[str, set[str]] = {}
    for node in nodes:
        deps: set[str] = set()
        if node.relevant:
            deps |= form.expression(node.relevant).references
        if isinstance(node, Question) and node.calculation:
            deps |= form.expression(node.calculation).references
        if parent[node.name] is not None:
            deps.add(parent[node.name].name)  # type: ignore[union-attr]
        deps.discard(node.name)
        depends_on[node.name] = {name for name in deps if name in position}

    # The earliest node in the form first among those ready, so the order is stable.
    names, waiting = topological_order(depends_on, position.__getitem__)
    order: list[Node] = [nodes[position[name]] for name in names]
    if len(order) < len(nodes):
        stuck = min((name for name, count in waiting.items() if count), key=position.get)
        cycle = sorted(
            (n for n, c in waiting.items() if c and n in depends_on[stuck] | {stuck}),
            key=position.get,
        )
        raise CycleError(
            f"'{stuck}' depends on itself through a cycle of calculations or relevance "
            f"({' -> '.join(cycle)})",
            stuck,
        )

    # A note is checked only when required: ODK blocks finalizing while a relevant required
    # note shows (forms use it as a consistency check: "the ages don't add up").
    checked = [q for q in form.questions() if q.type != "note" or q.required]
    texts: set[str] = set()
    for node in nodes:
        texts.update(t for t in (node.relevant,) if t)
        if isinstance(node, Repeat) and node.repeat_count:
            texts.add(node.repeat_count)
        if isinstance(node, Question):
            texts.update(t for t in (node.calculation, node.constraint, node.soft_constraint) if t)
            if node.required and node.required != "yes":
                texts.add(node.required)
            if node.choice_filter:
                texts.add(rewrite_choice_filter(node.choice_filter))
    plan = Plan(
        order=order,
        parent=parent,
        names_at_level=names_at_level,
        checked=checked,
        nodes={node.name: node for node in nodes},
        choices={name: {c.name: c for c in items} for name, items in form.choices.items()},
        expressions={text: form.expression(text) for text in texts},
        repeats_with_count=[r for r in form.repeats() if r.repeat_count],
        duplicate_choices=_duplicate_choices(form),
    )
    for node in order:
        container = parent[node.name]
        calculation = node.calculation if isinstance(node, Question) else None
        plan.steps.append(
            (
                node,
                node.name,
                container.name if container is not None else None,
                len(container.repeat_path) if container is not None else 0,
                plan.expressions[node.relevant] if node.relevant else None,
                plan.expressions[calculation] if calculation else None,
            )
        )
    form._engine_cache["plan"] = plan
    return plan


def _duplicate_choices(form: Form) -> dict[str, dict[str, list[Choice]]]:
    found: dict[str, dict[str, list[Choice]]] = {}
    for list_name, choices in form.choices.items():
        by_name: dict[str, list[Choice]] = {}
        for choice in choices:
            by_name.setdefault(choice.name, []).append(choice)
        repeated = {name: same for name, same in by_name.items() if len(same) > 1}
        if repeated:
            found[list_name] = repeated
    return found
