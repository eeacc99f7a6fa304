//! The signals that can be trended (the cache's list merged with the live view's) and the tree they are picked
//! from.

use super::*;

/// The signals that can be trended: the cache's list merged with the live view's.
#[derive(Default)]
pub(super) struct Catalog {
    pub(super) stored: Vec<SignalInfo>,
    pub(super) pending: Option<Pending<Vec<SignalInfo>>>,
    pub(super) requested_at: Option<f64>,
    pub(super) error: Option<String>,
    pub(super) live_count: usize,
    pub(super) entries: BTreeMap<String, Entry>,
    /// Changes whenever `entries` does (the tree is rebuilt then).
    pub(super) generation: u64,
}

/// What the tree knows of one signal.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Entry {
    pub(super) unit: Option<String>,
    /// Numbers, counters and flags can be trended; text cannot.
    pub(super) numeric: bool,
    /// In the history cache (not only seen live).
    pub(super) stored: bool,
}

pub(super) fn is_numeric(kind: ValueKind) -> bool {
    matches!(kind, ValueKind::Float | ValueKind::Int | ValueKind::Bool)
}

impl Catalog {
    pub(super) fn update(&mut self, history: &History, live: &LiveState, time: f64) {
        let mut changed = false;
        if let Some(result) = self.pending.as_mut().and_then(Pending::poll) {
            self.pending = None;
            match result {
                Ok(list) => {
                    self.stored = list;
                    self.error = None;
                    changed = true;
                }
                // No file yet: nothing recorded so far, which is not an error.
                Err(Error::Missing { .. }) => self.error = None,
                Err(err) => self.error = Some(err.to_string()),
            }
        }
        let due = self.requested_at.is_none_or(|t| time - t >= SIGNALS_REFRESH_SECS);
        if self.pending.is_none()
            && due
            && let Some(pending) = history.signals()
        {
            self.pending = Some(pending);
            self.requested_at = Some(time);
        }
        if live.signals.len() != self.live_count {
            self.live_count = live.signals.len();
            changed = true;
        }
        if changed {
            self.rebuild(live);
        }
    }

    pub(super) fn rebuild(&mut self, live: &LiveState) {
        let mut entries: BTreeMap<String, Entry> = self
            .stored
            .iter()
            .map(|s| {
                let entry = Entry { unit: s.unit.clone(), numeric: is_numeric(s.kind), stored: true };
                (s.id.as_str().to_owned(), entry)
            })
            .collect();
        for (id, signal) in &live.signals {
            let kind = signal.meta.as_ref().map_or_else(|| signal.last.value.kind(), |m| m.kind);
            let unit = signal.meta.as_ref().and_then(|m| m.unit.as_deref()).map(str::to_owned);
            entries
                .entry(id.as_str().to_owned())
                .and_modify(|e| {
                    if e.unit.is_none() {
                        e.unit.clone_from(&unit);
                    }
                })
                .or_insert(Entry { unit, numeric: is_numeric(kind), stored: false });
        }
        self.entries = entries;
        self.generation += 1;
    }
}

/// The signal ids split on `/`.
#[derive(Default)]
pub(super) struct TreeNode {
    pub(super) children: BTreeMap<String, TreeNode>,
    /// The signal whose id ends at this node.
    pub(super) signal: Option<String>,
}

/// The tree for one filter over one version of the catalog.
pub(super) struct TreeCache {
    pub(super) filter: String,
    pub(super) generation: u64,
    pub(super) root: TreeNode,
    pub(super) matches: usize,
}

impl TreeCache {
    /// `filter` is lower case; every word of it must appear in the id.
    pub(super) fn build(entries: &BTreeMap<String, Entry>, filter: &str, generation: u64) -> Self {
        let words: Vec<&str> = filter.split_whitespace().collect();
        let mut root = TreeNode::default();
        let mut matches = 0;
        for id in entries.keys() {
            let lower = id.to_lowercase();
            if !words.iter().all(|w| lower.contains(w)) {
                continue;
            }
            matches += 1;
            let mut node = &mut root;
            let mut segments = id.split('/').filter(|s| !s.is_empty()).peekable();
            if segments.peek().is_none() {
                node = node.children.entry(id.clone()).or_default();
            }
            for segment in segments {
                node = node.children.entry(segment.to_owned()).or_default();
            }
            node.signal = Some(id.clone());
        }
        Self { filter: filter.to_owned(), generation, root, matches }
    }
}

/// What drawing the tree needs.
pub(super) struct TreeCtx<'a> {
    pub(super) theme: &'a Theme,
    pub(super) entries: &'a BTreeMap<String, Entry>,
    pub(super) pens: HashSet<&'a str>,
    pub(super) full: bool,
    pub(super) filtering: bool,
    /// The signal clicked, to be added as a pen.
    pub(super) add: Option<String>,
}

/// One level of the tree: headers for branches, buttons for signals.
pub(super) fn tree_node_ui(ui: &mut Ui, node: &TreeNode, path: &str, depth: usize, ctx: &mut TreeCtx<'_>) {
    for (name, child) in &node.children {
        if child.children.is_empty() {
            if let Some(id) = &child.signal {
                signal_leaf_ui(ui, name, id, ctx);
            }
            continue;
        }
        let child_path = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
        // A separate state while searching, so a search opens everything without changing the tree's own state.
        egui::CollapsingHeader::new(name.as_str())
            .id_salt((ctx.filtering, &child_path))
            .default_open(ctx.filtering || depth == 0)
            .show(ui, |ui| {
                if let Some(id) = &child.signal {
                    signal_leaf_ui(ui, "(this signal)", id, ctx);
                }
                tree_node_ui(ui, child, &child_path, depth + 1, ctx);
            });
    }
}

/// A signal in the tree: click to trend it; its unit beside it.
pub(super) fn signal_leaf_ui(ui: &mut Ui, name: &str, id: &str, ctx: &mut TreeCtx<'_>) {
    let Some(entry) = ctx.entries.get(id) else { return };
    let is_pen = ctx.pens.contains(id);
    ui.horizontal(|ui| {
        let enabled = entry.numeric && (is_pen || !ctx.full);
        let response = ui.add_enabled(enabled, egui::Button::selectable(is_pen, name));
        let response = if !entry.numeric {
            response.on_disabled_hover_text(format!("{id}\nText values cannot be trended"))
        } else if !enabled {
            response.on_disabled_hover_text(format!("{id}\nAt most {MAX_PENS} pens: remove one first"))
        } else if is_pen {
            response.on_hover_text(format!("{id}\nTrended"))
        } else if entry.stored {
            response.on_hover_text(format!("{id}\nClick to trend"))
        } else {
            response.on_hover_text(format!("{id}\nClick to trend (seen live, not in the history cache yet)"))
        };
        if response.clicked() && !is_pen {
            ctx.add = Some(id.to_owned());
        }
        if let Some(unit) = &entry.unit {
            ui.label(RichText::new(unit).color(ctx.theme.text_dim));
        }
    });
}

impl TrendPanel {
    pub(super) fn signal_tree_ui(&mut self, ui: &mut Ui, theme: &Theme) -> Option<String> {
        ui.heading("Signals");
        let label = ui.label("Search signals");
        ui.add(
            egui::TextEdit::singleline(&mut self.rt.filter).hint_text("e.g. filler temp").desired_width(f32::INFINITY),
        )
        .labelled_by(label.id);
        let filter = self.rt.filter.trim().to_lowercase();
        let catalog = &self.rt.catalog;
        if self.rt.tree.as_ref().is_none_or(|t| t.filter != filter || t.generation != catalog.generation) {
            self.rt.tree = Some(TreeCache::build(&catalog.entries, &filter, catalog.generation));
        }
        if let Some(err) = &catalog.error {
            ui.colored_label(theme.alarm, format!("Signal list not read: {err}"));
        }
        let tree = self.rt.tree.as_ref()?;
        if catalog.entries.is_empty() {
            ui.horizontal(|ui| {
                if catalog.pending.is_some() {
                    ui.add(egui::Spinner::new()).on_hover_text("Reading the signal list");
                }
                ui.label(RichText::new("No signals recorded yet.").color(theme.text_dim));
            });
            return None;
        }
        if tree.matches == 0 {
            ui.label(RichText::new(format!("No signal matches \"{}\".", self.rt.filter.trim())).color(theme.text_dim));
            return None;
        }
        let mut ctx = TreeCtx {
            theme,
            entries: &catalog.entries,
            pens: self.pens.iter().map(|p| p.signal.as_str()).collect(),
            full: self.pens.len() >= MAX_PENS,
            filtering: !filter.is_empty(),
            add: None,
        };
        egui::ScrollArea::vertical().id_salt("trend_tree").auto_shrink([false, false]).show(ui, |ui| {
            tree_node_ui(ui, &tree.root, "", 0, &mut ctx);
        });
        ctx.add
    }
}
