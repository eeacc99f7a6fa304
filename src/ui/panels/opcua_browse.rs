//! The Connections view's OPC UA browser: the server's address space as a tree opened node by node (a page of
//! children at a time, *More* for the next), variables with value, data type and status, and *Add* to map a
//! variable as a signal or a folder as signals named by browse path. An addition is written into the config file
//! (when the app runs on one) and subscribed at once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use egui::{RichText, Ui};

use crate::config::{OpcUaGateway, OpcUaMapping};
use crate::feeds::Command;
use crate::feeds::opcua::browse::{self, BrowseItem, Browser, Children, Connection, ItemClass, ROOT};
use crate::ui::UiCommand;
use crate::ui::theme::Theme;

/// What the browser needs from the app: where to run, the OPC UA gateways as configured, the config file.
pub struct Browsing {
    runtime: tokio::runtime::Handle,
    gateways: HashMap<Arc<str>, OpcUaGateway>,
    config_file: Option<PathBuf>,
    open: HashMap<Arc<str>, Browser>,
    /// The outcome of the last *Add*: (it worked, what happened).
    note: Option<(bool, String)>,
    /// Additions whose config file write finished on the I/O runtime, waiting for the next frame to subscribe
    /// them: (gateway, mapping, what the write said).
    saved: Arc<std::sync::Mutex<Vec<Saved>>>,
}

type Saved = (Arc<str>, OpcUaMapping, Result<String, String>);

impl Browsing {
    pub fn new(
        runtime: tokio::runtime::Handle,
        gateways: impl IntoIterator<Item = (Arc<str>, OpcUaGateway)>,
        config_file: Option<PathBuf>,
    ) -> Self {
        let gateways = gateways.into_iter().collect();
        Self { runtime, gateways, config_file, open: HashMap::new(), note: None, saved: Arc::default() }
    }

    /// Whether `gateway` can be browsed (an OPC UA gateway).
    pub fn has(&self, gateway: &str) -> bool {
        self.gateways.contains_key(gateway)
    }

    /// The tree of `gateway`'s server; the session is made the first time it is shown.
    pub fn ui(&mut self, ui: &mut Ui, theme: &Theme, gateway: &Arc<str>, commands: &mut Vec<UiCommand>) {
        let saved = std::mem::take(&mut *self.saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for (gateway, mapping, outcome) in saved {
            self.added(&gateway, mapping, outcome, commands);
        }
        let Some(config) = self.gateways.get(gateway) else { return };
        let ctx = ui.ctx().clone();
        if !self.open.contains_key(gateway) {
            let browser = Browser::start(&self.runtime, config.clone(), Arc::new(move || ctx.request_repaint()));
            self.open.insert(Arc::clone(gateway), browser);
        }
        ui.horizontal(|ui| {
            ui.label(RichText::new(format!("Address space of {}", config.link.url)).strong());
            if ui.button("Reconnect").on_hover_text("A new browsing session; the tree is read again").clicked() {
                self.open.remove(gateway);
                self.note = None;
            }
        });
        let Some(browser) = self.open.get(gateway) else { return };
        let connection = browse::lock(&browser.state).connection.clone();
        match connection {
            Connection::Connecting => {
                ui.horizontal(|ui| {
                    ui.spinner();
                    ui.label("Connecting to the server…");
                });
                return;
            }
            Connection::Failed(why) => {
                ui.label(RichText::new(format!("Cannot browse: {why}")).color(theme.attention));
                return;
            }
            Connection::Ready => {}
        }
        if let Some((ok, note)) = &self.note {
            ui.label(RichText::new(note).color(if *ok { theme.text_strong } else { theme.attention }));
        }
        let mut actions = Vec::new();
        egui::ScrollArea::vertical().id_salt("opcua_browse").auto_shrink([false, false]).show(ui, |ui| {
            let state = browse::lock(&browser.state);
            children_ui(ui, theme, &state.children, (ROOT, ""), config, &mut actions);
        });
        let mut added = Vec::new();
        for action in actions {
            match action {
                Action::Open(node, path) => browser.open(&node, &path),
                Action::More(node, path) => browser.more(&node, &path),
                Action::Add(mapping) => added.push(mapping),
            }
        }
        for mapping in added {
            self.add(gateway, mapping, commands, ui.ctx());
        }
    }

    /// Maps a folder or node: into the config file (written on the I/O runtime, not in the frame), then
    /// [`Self::added`].
    fn add(&mut self, gateway: &Arc<str>, mapping: OpcUaMapping, commands: &mut Vec<UiCommand>, ctx: &egui::Context) {
        let what = match &mapping {
            OpcUaMapping::Folder(f) => format!("folder {f}"),
            OpcUaMapping::Node { signal, node } => format!("{signal} ({node})"),
        };
        let Some(path) = self.config_file.clone() else {
            let note =
                format!("Subscribed to {what} for this run; not saved: the app runs without a config file (--config).");
            return self.added(gateway, mapping, Ok(note), commands);
        };
        let (gateway, saved, ctx) = (Arc::clone(gateway), Arc::clone(&self.saved), ctx.clone());
        self.runtime.spawn_blocking(move || {
            let outcome = crate::config::add_opcua_mapping(&path, &gateway, &mapping)
                .map(|_| format!("Added {what} to {}; subscribing now.", path.display()));
            saved.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push((gateway, mapping, outcome));
            ctx.request_repaint();
        });
    }

    /// A mapping saved (or with nothing to save it to): into the running feed and the copy the tree marks with.
    fn added(
        &mut self,
        gateway: &Arc<str>,
        mapping: OpcUaMapping,
        outcome: Result<String, String>,
        commands: &mut Vec<UiCommand>,
    ) {
        match outcome {
            Ok(note) => {
                tracing::info!(%gateway, ?mapping, "OPC UA mapping added from the browser");
                if let Some(config) = self.gateways.get_mut(gateway) {
                    mapping.apply(config);
                }
                commands.push(UiCommand::Feed(Command::OpcUaAdd { gateway: Arc::clone(gateway), mapping }));
                self.note = Some((true, note));
            }
            Err(why) => {
                tracing::warn!(%gateway, "OPC UA mapping not added: {why}");
                self.note = Some((false, format!("Not added: {why}")));
            }
        }
    }
}

enum Action {
    Open(String, String),
    More(String, String),
    Add(OpcUaMapping),
}

/// The children of `node` (at browse path `path`): folders open on click, variables with their reading.
fn children_ui(
    ui: &mut Ui,
    theme: &Theme,
    tree: &HashMap<String, Children>,
    (node, path): (&str, &str),
    config: &OpcUaGateway,
    actions: &mut Vec<Action>,
) {
    match tree.get(node) {
        None => actions.push(Action::Open(node.to_owned(), path.to_owned())),
        Some(Children::Loading) => {
            ui.horizontal(|ui| {
                ui.spinner();
                ui.label(RichText::new("Loading…").color(theme.text_dim));
            });
        }
        Some(Children::Failed(why)) => {
            ui.label(RichText::new(format!("Cannot browse this node: {why}")).color(theme.attention));
        }
        Some(Children::Loaded { items, more }) => {
            if items.is_empty() {
                ui.label(RichText::new("(empty)").color(theme.text_dim));
            }
            for item in items {
                match item.class {
                    ItemClass::Folder => folder_ui(ui, theme, tree, item, config, actions),
                    ItemClass::Variable => variable_ui(ui, theme, item, config, actions),
                }
            }
            if *more
                && ui.button("More…").on_hover_text("The server has more: fetch the next page (BrowseNext)").clicked()
            {
                actions.push(Action::More(node.to_owned(), path.to_owned()));
            }
        }
    }
}

fn folder_ui(
    ui: &mut Ui,
    theme: &Theme,
    tree: &HashMap<String, Children>,
    item: &BrowseItem,
    config: &OpcUaGateway,
    actions: &mut Vec<Action>,
) {
    let id = ui.make_persistent_id(("opcua_node", &item.node));
    let mut name_clicked = false;
    let mut header =
        egui::collapsing_header::CollapsingState::load_with_default_open(ui.ctx(), id, false).show_header(ui, |ui| {
            name_clicked = ui
                .add(egui::Label::new(RichText::new(&item.name).strong()).sense(egui::Sense::click()))
                .on_hover_text(format!("{}\nClick to open or close", item.node))
                .clicked();
            if config.folders.contains(&item.node) {
                ui.label(RichText::new("mapped").color(theme.text_strong));
            } else if ui
                .small_button("Add folder")
                .on_hover_text(format!(
                    "Map every variable below as a signal named by its path from here ({}/…)",
                    item.name
                ))
                .clicked()
            {
                actions.push(Action::Add(OpcUaMapping::Folder(item.node.clone())));
            }
        });
    if name_clicked {
        header.toggle();
    }
    header.body(|ui| children_ui(ui, theme, tree, (&item.node, &item.path), config, actions));
}

fn variable_ui(ui: &mut Ui, theme: &Theme, item: &BrowseItem, config: &OpcUaGateway, actions: &mut Vec<Action>) {
    ui.horizontal(|ui| {
        ui.label(&item.name).on_hover_text(&item.node);
        if let Some(value) = &item.value {
            ui.label(RichText::new(value).monospace());
        }
        if let Some(t) = &item.data_type {
            ui.label(RichText::new(t).color(theme.text_dim));
        }
        if let Some(status) = &item.status {
            let color = if status.starts_with("Good") { theme.text_dim } else { theme.attention };
            ui.label(RichText::new(status).color(color));
        }
        if config.nodes.iter().any(|(_, n)| *n == item.node) {
            ui.label(RichText::new("mapped").color(theme.text_strong));
        } else if ui.small_button("Add").on_hover_text(format!("Map this node as the signal {}", item.path)).clicked() {
            actions.push(Action::Add(OpcUaMapping::Node { signal: item.path.clone(), node: item.node.clone() }));
        }
    });
}
