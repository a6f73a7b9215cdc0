"""d sum(critic(x)) / dx for any HybridBlock critic, read from the critic's symbol graph.

The critic is traced once as a symbol (`critic(mx.sym.var(...))`, hybridized or not). Each call
then evaluates the operators on the path from the input to the first output, in the graph's order,
with the block's parameters and under the caller's `autograd.record()`, and applies one transpose
per operator in reverse order (`op_transposes.RULES`), adding the gradients of a value that feeds
several operators (residual connections). The result is an ordinary recorded computation of the
critic's parameters: first-order autograd differentiates it, which gives the penalty's exact
parameter gradients where MXNet's `autograd.grad(create_graph=True)` cannot.

Operators off that path are evaluated as they are (a weight computed from a parameter is recorded
like any other value); an operator on it without an exact transpose is refused by name.
"""
import contextlib
import json
import weakref
from typing import NamedTuple

import mxnet as mx
from mxnet import autograd, nd

from . import compat, op_transposes

INPUT = "gluon_wgan_penalty_input"


class Node(NamedTuple):
    op: str
    name: str
    attrs: dict
    inputs: tuple   # ((node id, output index), ...)


class CriticGraph:
    """A critic's operators between its input and its first output, and what each needs."""

    def __init__(self, critic):
        symbol = _first_output(_trace(critic))
        graph = json.loads(symbol.tojson(remove_amp_cast=False))   # keep a bfloat16 layer's casts
        self.nodes = [Node(n["op"], n["name"], n.get("attrs", {}), tuple((i, k) for i, k, *_ in n["inputs"]))
                      for n in graph["nodes"]]
        self.head = tuple(graph["heads"][0][:2])
        params = dict(critic.collect_params().items())
        self.params, self.data = {}, None
        for i, node in enumerate(self.nodes):
            if node.op != "null":
                continue
            if node.name == INPUT:
                self.data = i
            elif node.name in params:
                self.params[i] = params[node.name]
            else:
                raise ValueError(f"gradient_penalty cannot trace the critic: its graph reads {node.name!r}, "
                                 "which is neither its input nor one of its parameters")
        self.order = self._needed()
        self.live = self._live()
        self.recorded = self._recorded()
        self.layers = _layer_names(critic)

    def _needed(self):
        """The ids of the nodes the first output depends on, in the graph's (topological) order."""
        needed, stack = set(), [self.head[0]]
        while stack:
            i = stack.pop()
            if i not in needed:
                needed.add(i)
                stack.extend(j for j, _ in self.nodes[i].inputs)
        return [i for i in range(len(self.nodes)) if i in needed]

    def _live(self):
        """The ids of the nodes that need a transpose: their value changes with the input, and the
        output changes with their value (not only through, say, the shape a ones_like reads)."""
        varies = set()
        for i in self.order:
            node = self.nodes[i]
            if i == self.data or (node.op not in op_transposes.CONSTANT_OPS
                                  and any(j in varies for j, _ in node.inputs)):
                varies.add(i)
        matters, stack = set(), [self.head[0]]
        while stack:
            i = stack.pop()
            if i not in matters:
                matters.add(i)
                if self.nodes[i].op not in op_transposes.CONSTANT_OPS:
                    stack.extend(j for j, _ in self.nodes[i].inputs)
        self.shape_only = varies - matters     # inputs of constants only: evaluated unrecorded
        return varies & matters

    def _recorded(self):
        """The live nodes to evaluate under record: those whose values a transpose reads
        differentiably, and what they are computed from. The others feed masks and shapes only,
        whose derivatives are zero: they run unrecorded (no graph kept for them)."""
        recorded, stack = set(), []
        for i in self.live:
            node = self.nodes[i]
            rule = op_transposes.RULES.get(node.op)
            if rule is not None and rule.reads(node.attrs, self.live_inputs(node)):
                stack.append(i)
        while stack:
            i = stack.pop()
            if i in self.live and i not in recorded:
                recorded.add(i)
                stack.extend(j for j, _ in self.nodes[i].inputs)
        return recorded

    def live_inputs(self, node):
        return tuple(j in self.live for j, _ in node.inputs)

    def problems(self):
        """(node id, reason) for each operator on the path that has no exact transpose."""
        found = []
        for i in self.order:
            node = self.nodes[i]
            if i in self.live and node.op != "null":
                reason = op_transposes.problem(node.op, node.attrs, self.live_inputs(node))
                if reason:
                    found.append((i, reason))
        return found

    def describe(self, i):
        """'layer NAME (Class, operator OP)' for the error messages."""
        node = self.nodes[i]
        prefix = max((p for p in self.layers if node.name.startswith(p)), key=len, default=None)
        if prefix is None:
            return f"operator {node.op!r} ({node.name})"
        name, kind = self.layers[prefix]
        return f"layer {name!r} ({kind}, operator {node.op})"

    def refuse(self, i, reason):
        raise ValueError(f"gradient_penalty cannot differentiate the critic's {self.describe(i)}: {reason}")


def _trace(critic):
    if not isinstance(critic, mx.gluon.HybridBlock):
        raise ValueError(f"gradient_penalty needs a HybridBlock critic (its operators are read from its "
                         f"symbol graph), got {type(critic).__name__}")
    try:
        return critic(mx.sym.var(INPUT))
    except Exception as err:   # anything the critic's forward raises on a symbol
        raise ValueError(f"gradient_penalty cannot trace {type(critic).__name__} as a symbol "
                         f"({type(err).__name__}: {err}); its hybrid_forward must use F's operators "
                         "only, not the NDArray's values or shape") from err


def _first_output(out):
    """A critic returning several outputs (an auxiliary classifier, say) is judged by its first."""
    while isinstance(out, (list, tuple)):
        out = out[0]
    return out[0] if len(out.list_outputs()) > 1 else out


def _layer_names(critic):
    """{block prefix: (block name, class name)} of every block in the critic."""
    return {block.prefix: (block.name, type(block).__name__) for block in compat.all_blocks(critic) if block.prefix}


_graphs = weakref.WeakKeyDictionary()


def critic_graph(critic, device_type="cpu"):
    """The critic's `CriticGraph`, traced once per critic, device type and compute dtypes of its
    layers (`models.precision.set_compute_dtype` changes the operators); raises `ValueError` naming
    the first operator that has no exact transpose."""
    per_key = _graphs.setdefault(critic, {})
    key = (device_type, _compute_dtypes(critic))
    if key not in per_key:
        graph = CriticGraph(critic)
        for i, reason in graph.problems():
            graph.refuse(i, reason)
        per_key[key] = graph
    return per_key[key]


def _compute_dtypes(critic):
    """The `compute_dtype` of every layer of the critic that has one, in order."""
    return tuple(getattr(block, "compute_dtype", None) for block in compat.all_blocks(critic))


def input_gradient(critic, x):
    """d sum(first output of critic(x)) / dx, shape of x, as a recorded function of the parameters."""
    graph = critic_graph(critic, x.context.device_type)
    values, transposes = {}, {}
    n = x.shape[0]
    for i in graph.order:
        node = graph.nodes[i]
        if node.op == "null":
            values[i] = [x if i == graph.data else graph.params[i].data(x.context)]
            continue
        ins = [values[j][k] for j, k in node.inputs]
        if i in graph.live:
            try:
                with contextlib.nullcontext() if i in graph.recorded else autograd.pause(train_mode=True):
                    outs, transposes[i] = op_transposes.RULES[node.op].apply(ins, graph.live_inputs(node),
                                                                              node.attrs, node.op)
            except ValueError as err:
                graph.refuse(i, str(err))
            outs = list(outs) if isinstance(outs, (list, tuple)) else [outs]
            if any(out.shape[:1] != (n,) for out in outs):
                graph.refuse(i, "its output does not keep the batch axis first, "
                             + op_transposes.MIXES_SAMPLES)
        elif node.op in op_transposes.CONSTANT_OPS or i in graph.shape_only:
            with autograd.pause():   # a recorded ones_like(...) can crash backward (MXNet 1.9.1)
                outs = op_transposes.invoke(node.op, ins, node.attrs)
        else:
            outs = op_transposes.invoke(node.op, ins, node.attrs)
        values[i] = list(outs) if isinstance(outs, (list, tuple)) else [outs]
    return _transpose(graph, values, transposes, x)


def _transpose(graph, values, transposes, x):
    """The reverse pass: d sum(output) / d value for every live value, from the head back to x."""
    head = values[graph.head[0]][graph.head[1]]
    if graph.head[0] not in graph.live:
        return nd.zeros_like(x)    # a critic whose output does not depend on its input
    with autograd.pause():
        grads = {graph.head: nd.ones(head.shape, ctx=head.context, dtype=head.dtype)}
    for i in reversed(graph.order):
        if i not in transposes:
            continue
        node = graph.nodes[i]
        gs = [grads.pop((i, k), None) for k in range(len(values[i]))]
        if all(g is None for g in gs):
            continue
        for (j, k), g in zip(node.inputs, transposes[i](gs)):
            if g is not None and j in graph.live:
                grads[(j, k)] = g if (j, k) not in grads else grads[(j, k)] + g
    return grads.get((graph.data, 0), nd.zeros_like(x))
