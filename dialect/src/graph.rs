//! The dataflow graph of a module, as a `petgraph` graph: one node per live op, one edge per
//! operand use (from the defining op to the user, weighted by the value).
//!
//! Used for cycle checks, topological orders and reachability; the module itself stays the
//! arena + program order of [`crate::ir`].

use std::collections::HashMap;

use petgraph::algo::toposort;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::ir::{Module, OpId, ValueId};

/// The dataflow graph and the node of each op.
pub struct Dataflow {
    /// Nodes are ops, edges carry the value flowing from definition to use.
    pub graph: DiGraph<OpId, ValueId>,
    /// Node index of each live op.
    pub node: HashMap<OpId, NodeIndex>,
}

impl Dataflow {
    /// Builds the graph of the live ops. Operands whose definition is not live are skipped
    /// (the verifier reports them).
    pub fn build(m: &Module) -> Dataflow {
        let mut graph = DiGraph::new();
        let mut node = HashMap::new();
        for &op in m.body() {
            node.insert(op, graph.add_node(op));
        }
        for &op in m.body() {
            for &v in &m.op(op).operands {
                if (v.0 as usize) >= m.num_value_slots() {
                    continue;
                }
                if let Some(&src) = node.get(&m.value(v).def) {
                    graph.add_edge(src, node[&op], v);
                }
            }
        }
        Dataflow { graph, node }
    }

    /// A topological order of the ops (stable: ties keep program order as far as petgraph's
    /// DFS allows), or an op on a cycle.
    pub fn topo_order(&self) -> Result<Vec<OpId>, OpId> {
        toposort(&self.graph, None)
            .map(|ns| ns.into_iter().map(|n| self.graph[n]).collect())
            .map_err(|c| self.graph[c.node_id()])
    }
}
