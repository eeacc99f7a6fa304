//! Browsing a server's address space for the Connections view: a session of its own (the gateway's security and
//! identity), children fetched when a node is opened and paged with `BrowseNext`, each variable's value, data type
//! and status read with its page. Node ids are given with their namespace URI (`nsu=…;s=…`), as the config wants
//! them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use futures_util::StreamExt as _;
use opcua::client::Session;
use opcua::types::{
    AttributeId, BrowseResultMask, ByteString, DataTypeId, NodeClass, NodeId, ReadValueId, ReferenceDescription,
    TimestampsToReturn, Variant,
};
use tokio::sync::mpsc;

use super::settings::OpcUaGateway;
use super::{End, connect, namespaces, parse_id};

/// References asked for per page: a folder with more shows *More* (`BrowseNext`).
pub const PAGE: u32 = 200;

/// Requests waiting for the browsing session (a full queue: the click is taken again on a later frame).
const REQUESTS: usize = 64;

/// What a node in the tree is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItemClass {
    /// An object or folder: it can be opened, and mapped as a folder.
    Folder,
    /// A variable: it can be mapped as a signal.
    Variable,
}

/// One child in the tree.
#[derive(Clone, Debug)]
pub struct BrowseItem {
    /// With its namespace URI: `nsu=urn:…;s=Line1/Filler`.
    pub node: String,
    pub name: String,
    pub class: ItemClass,
    /// The browse path from the top of the tree (`PlantA/Line1/Filler/State`): the signal id a mapping suggests.
    pub path: String,
    /// Variables: the value as read with the page, its data type and status.
    pub value: Option<String>,
    pub data_type: Option<String>,
    pub status: Option<String>,
}

/// The children of one node as far as they have come.
#[derive(Clone, Debug)]
pub enum Children {
    Loading,
    /// `more`: the server has more (a continuation point is held for *More*).
    Loaded {
        items: Vec<BrowseItem>,
        more: bool,
    },
    Failed(String),
}

/// The browser's session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Connection {
    Connecting,
    Ready,
    Failed(String),
}

/// What the view reads each frame.
#[derive(Debug)]
pub struct BrowseState {
    pub connection: Connection,
    /// By node (as in [`BrowseItem::node`]); [`ROOT`] for the Objects folder.
    pub children: HashMap<String, Children>,
}

/// The key of the top of the tree: the server's Objects folder.
pub const ROOT: &str = "i=85";

enum Request {
    Open { node: String, path: String },
    More { node: String, path: String },
}

/// A browsing session, ended when dropped.
pub struct Browser {
    requests: mpsc::Sender<Request>,
    pub state: Arc<Mutex<BrowseState>>,
    task: tokio::task::JoinHandle<()>,
}

/// Locks the state for a short read or update (a panic elsewhere leaves it usable).
pub fn lock(state: &Mutex<BrowseState>) -> MutexGuard<'_, BrowseState> {
    state.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Browser {
    /// Connects to the gateway's server on `runtime` and opens the Objects folder; `repaint` is called when an
    /// answer came.
    pub fn start(runtime: &tokio::runtime::Handle, config: OpcUaGateway, repaint: Arc<dyn Fn() + Send + Sync>) -> Self {
        let state = Arc::new(Mutex::new(BrowseState { connection: Connection::Connecting, children: HashMap::new() }));
        let (requests, rx) = mpsc::channel(REQUESTS);
        let task = runtime.spawn(run(config, Arc::clone(&state), rx, repaint));
        let browser = Self { requests, state, task };
        browser.open(ROOT, "");
        browser
    }

    /// Fetches a node's children unless they are here or coming.
    pub fn open(&self, node: &str, path: &str) {
        let mut state = lock(&self.state);
        if matches!(state.children.get(node), None | Some(Children::Failed(_)))
            && self.requests.try_send(Request::Open { node: node.to_owned(), path: path.to_owned() }).is_ok()
        {
            state.children.insert(node.to_owned(), Children::Loading);
        }
    }

    /// Fetches the next page of a node's children.
    pub fn more(&self, node: &str, path: &str) {
        let _ = self.requests.try_send(Request::More { node: node.to_owned(), path: path.to_owned() });
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn run(
    config: OpcUaGateway,
    state: Arc<Mutex<BrowseState>>,
    mut requests: mpsc::Receiver<Request>,
    repaint: Arc<dyn Fn() + Send + Sync>,
) {
    let fail = |why: String| {
        lock(&state).connection = Connection::Failed(why);
        repaint();
    };
    let (session, event_loop) = match connect(&config).await {
        Ok(pair) => pair,
        Err(End::Retry(status) | End::Untrusted(status)) => return fail(status.message.unwrap_or_default()),
        Err(End::Stopped | End::Remap(_)) => return,
    };
    let mut events = Box::pin(event_loop.enter());
    let connected = tokio::time::timeout(Duration::from_secs(30), async {
        while let Some(event) = events.next().await {
            match event {
                Ok(opcua::client::SessionPollResult::Reconnected(_)) => return Ok(()),
                Ok(opcua::client::SessionPollResult::ReconnectFailed(status)) | Err(status) => {
                    return Err(super::explain(status, &super::pki_dir(&config)));
                }
                Ok(_) => {}
            }
        }
        Err("the session ended".to_owned())
    })
    .await;
    match connected {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return fail(why),
        Err(_) => return fail("no session within 30 s".to_owned()),
    }
    // The session's loop runs beside the requests from here on.
    let driver = tokio::spawn(async move { while events.next().await.is_some() {} });
    lock(&state).connection = Connection::Ready;
    repaint();
    let namespaces = namespaces(&session).await;
    let mut continuations: HashMap<String, ByteString> = HashMap::new();
    while let Some(request) = requests.recv().await {
        let (node, path, page) = match request {
            Request::Open { node, path } => {
                let page = first_page(&session, &node, &namespaces).await;
                (node, path, page)
            }
            Request::More { node, path } => {
                let Some(point) = continuations.remove(&node) else { continue };
                let page = match session.browse_next(false, &[point]).await {
                    Ok(mut r) => {
                        r.pop().ok_or_else(|| "no answer".to_owned()).map(|r| (r.references, r.continuation_point))
                    }
                    Err(err) => Err(err.to_string()),
                };
                (node, path, page)
            }
        };
        let children = match page {
            Ok((references, point)) => {
                let items = items(&session, references.unwrap_or_default(), &path, &namespaces).await;
                let more = !point.is_null();
                if more {
                    continuations.insert(node.clone(), point);
                }
                let mut state = lock(&state);
                match state.children.get_mut(&node) {
                    Some(Children::Loaded { items: have, more: had }) => {
                        have.extend(items);
                        *had = more;
                        None
                    }
                    _ => Some(Children::Loaded { items, more }),
                }
            }
            Err(why) => Some(Children::Failed(why)),
        };
        if let Some(children) = children {
            lock(&state).children.insert(node, children);
        }
        repaint();
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), session.disconnect()).await;
    driver.abort();
}

/// A node id as the config writes it: with its namespace URI when it has one.
pub fn stable_id(node: &NodeId, namespaces: &[String]) -> String {
    match namespaces.get(usize::from(node.namespace)) {
        Some(uri) if node.namespace > 0 && !uri.is_empty() => format!("nsu={uri};{}", node.identifier),
        _ => node.to_string(),
    }
}

type Page = Result<(Option<Vec<ReferenceDescription>>, ByteString), String>;

async fn first_page(session: &Session, node: &str, namespaces: &[String]) -> Page {
    let classes = (NodeClass::Object as u32) | (NodeClass::Variable as u32);
    let description = super::children_of(parse_id(node, namespaces)?, classes, BrowseResultMask::All);
    let mut results = session.browse(&[description], PAGE, None).await.map_err(|e| e.to_string())?;
    let result = results.pop().ok_or_else(|| "no answer".to_owned())?;
    if !result.status_code.is_good() {
        return Err(result.status_code.to_string());
    }
    Ok((result.references, result.continuation_point))
}

/// The references of a page as items, variables with their value, data type and status read in one call.
async fn items(
    session: &Session,
    references: Vec<ReferenceDescription>,
    path: &str,
    namespaces: &[String],
) -> Vec<BrowseItem> {
    let mut items: Vec<(NodeId, BrowseItem)> = references
        .into_iter()
        .filter_map(|r| {
            let class = match r.node_class {
                NodeClass::Object => ItemClass::Folder,
                NodeClass::Variable => ItemClass::Variable,
                _ => return None,
            };
            let name = r.browse_name.name.as_ref().to_owned();
            let path = if path.is_empty() { name.clone() } else { format!("{path}/{name}") };
            let id = r.node_id.node_id;
            let item = BrowseItem {
                node: stable_id(&id, namespaces),
                name,
                class,
                path,
                value: None,
                data_type: None,
                status: None,
            };
            Some((id, item))
        })
        .collect();
    let variables: Vec<usize> = (0..items.len()).filter(|i| items[*i].1.class == ItemClass::Variable).collect();
    let reads: Vec<ReadValueId> = variables
        .iter()
        .flat_map(|i| {
            let id = items[*i].0.clone();
            [
                ReadValueId::new_value(id.clone()),
                ReadValueId { attribute_id: AttributeId::DataType as u32, ..ReadValueId::new_value(id) },
            ]
        })
        .collect();
    if !reads.is_empty()
        && let Ok(values) = session.read(&reads, TimestampsToReturn::Source, 0.0).await
    {
        for (i, pair) in variables.iter().zip(values.chunks(2)) {
            let item = &mut items[*i].1;
            if let Some(v) = pair.first() {
                item.value =
                    Some(v.value.as_ref().map_or_else(|| "(no value)".to_owned(), |x| super::value(x).to_string()));
                item.status = Some(v.status().to_string());
            }
            if let Some(Variant::NodeId(t)) = pair.get(1).and_then(|t| t.value.as_ref()) {
                item.data_type = Some(type_name(t, namespaces));
            }
        }
    }
    items.sort_by(|a, b| a.1.name.cmp(&b.1.name));
    items.into_iter().map(|(_, item)| item).collect()
}

/// A data type's name: the standard ones by name, others by node id.
fn type_name(id: &NodeId, namespaces: &[String]) -> String {
    if id.namespace == 0
        && let opcua::types::Identifier::Numeric(n) = id.identifier
        && let Ok(t) = DataTypeId::try_from(n)
    {
        return format!("{t:?}");
    }
    stable_id(id, namespaces)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_ids_carry_their_namespace_uri_and_parse_back() {
        let namespaces = vec!["http://opcfoundation.org/UA/".to_owned(), "urn:plc".to_owned()];
        let id = NodeId::new(1, "Line1/Filler");
        let text = stable_id(&id, &namespaces);
        assert_eq!(text, "nsu=urn:plc;s=Line1/Filler");
        assert_eq!(parse_id(&text, &namespaces), Ok(id));
        assert_eq!(stable_id(&NodeId::new(0, 85u32), &namespaces), "i=85");
        assert!(parse_id("nsu=urn:other;s=x", &namespaces).is_err());
        assert_eq!(type_name(&DataTypeId::Double.into(), &namespaces), "Double");
    }
}
