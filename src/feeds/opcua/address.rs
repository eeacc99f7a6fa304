//! Address resolution: node ids with `nsu=` namespaces, folders by browse names, and the variables below a folder
//! named by their browse path.

use super::*;

/// The server's namespace table (index → URI), read once per session: it turns `nsu=` ids into node ids.
pub(crate) async fn namespaces(session: &Session) -> Vec<String> {
    let read = ReadValueId::new_value(NodeId::from(VariableId::Server_NamespaceArray));
    match session.read(&[read], TimestampsToReturn::Neither, 0.0).await.ok().and_then(|mut v| v.pop()) {
        Some(DataValue { value: Some(Variant::Array(a)), .. }) => a
            .values
            .iter()
            .map(|v| if let Variant::String(s) = v { s.as_ref().to_owned() } else { String::new() })
            .collect(),
        _ => Vec::new(),
    }
}

/// A node id as OPC UA writes it, or `nsu=<uri>;…` with the URI looked up in the server's `namespaces`.
pub(crate) fn parse_id(text: &str, namespaces: &[String]) -> Result<NodeId, String> {
    if let Some(rest) = text.strip_prefix("nsu=") {
        let (uri, id) = rest.split_once(';').ok_or_else(|| format!("{text:?}: nsu=<uri>;<id> expected"))?;
        let ns = namespaces
            .iter()
            .position(|u| u == uri)
            .ok_or_else(|| format!("{text:?}: the server has no namespace {uri:?}"))?;
        return format!("ns={ns};{id}").parse::<NodeId>().map_err(|err| format!("{text:?} is not a node id ({err:?})"));
    }
    text.parse::<NodeId>().map_err(|err| format!("{text:?} is not a node id (nsu=…;s=…, ns=…;s=…, i=…): {err:?}"))
}

/// A node id of the config: a browse path from the Objects folder (`/PlantA/Line1/Filler/State`, browse names in
/// any namespace) followed on the server, else as [`parse_id`] reads it.
pub(super) async fn resolve(session: &Session, namespaces: &[String], text: &str) -> Result<NodeId, String> {
    let text = text.trim();
    let Some(path) = text.strip_prefix('/') else { return parse_id(text, namespaces) };
    let mut node = NodeId::objects_folder_id();
    for name in path.split('/').filter(|n| !n.is_empty()) {
        node = child_named(session, &node, name)
            .await?
            .ok_or_else(|| format!("{text:?}: the server has no {name:?} there"))?;
    }
    Ok(node)
}

/// Every node to subscribe, with its signal: the configured nodes, then the variables under each folder named by
/// their browse path from the folder.
pub(super) async fn map_signals(config: &OpcUaGateway, session: &Session) -> Result<Vec<(NodeId, Arc<str>)>, String> {
    let namespaces = namespaces(session).await;
    let mut out: Vec<(NodeId, Arc<str>)> = Vec::new();
    for (signal, node) in &config.nodes {
        out.push((resolve(session, &namespaces, node).await?, Arc::from(signal.as_str())));
    }
    for folder in &config.folders {
        let root = resolve(session, &namespaces, folder).await?;
        let name = browse_name(session, &root).await?;
        browse_variables(session, root, name, &mut out).await?;
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|(node, _)| seen.insert(node.clone()));
    Ok(out)
}

/// Asks for a node's children by hierarchical references: of `classes` (a node class mask, 0 for all), with the
/// fields of `result`.
pub(crate) fn children_of(node: NodeId, classes: u32, result: BrowseResultMask) -> BrowseDescription {
    BrowseDescription {
        node_id: node,
        browse_direction: BrowseDirection::Forward,
        reference_type_id: ReferenceTypeId::HierarchicalReferences.into(),
        include_subtypes: true,
        node_class_mask: classes,
        result_mask: result as u32,
    }
}

/// Browses every page of `description` (`BrowseNext` as long as the server has more), handing each reference to
/// `found` until it says it has what it wanted (the rest is then released on the server).
pub(super) async fn browse_pages(
    session: &Session,
    description: BrowseDescription,
    mut found: impl FnMut(opcua::types::ReferenceDescription) -> bool,
) -> Result<(), String> {
    let node = description.node_id.clone();
    let mut results = session.browse(&[description], 1_000, None).await.map_err(|e| format!("browse {node}: {e}"))?;
    while let Some(result) = results.pop() {
        if !result.status_code.is_good() {
            return Err(format!("browse {node}: {}", result.status_code));
        }
        let done = result.references.unwrap_or_default().into_iter().any(&mut found);
        if result.continuation_point.is_null() {
            break;
        }
        if done {
            let _ = session.browse_next(true, &[result.continuation_point]).await;
            break;
        }
        results = session
            .browse_next(false, &[result.continuation_point])
            .await
            .map_err(|e| format!("browse {node}: {e}"))?;
    }
    Ok(())
}

/// The child of `parent` (by hierarchical references) whose browse name is `name`, looking through every page.
pub(super) async fn child_named(session: &Session, parent: &NodeId, name: &str) -> Result<Option<NodeId>, String> {
    let mut child = None;
    browse_pages(session, children_of(parent.clone(), 0, BrowseResultMask::BrowseName), |r| {
        let is = r.browse_name.name.as_ref() == name;
        if is {
            child = Some(r.node_id.node_id);
        }
        is
    })
    .await?;
    Ok(child)
}

pub(super) async fn browse_name(session: &Session, node: &NodeId) -> Result<String, String> {
    let read = ReadValueId { attribute_id: AttributeId::BrowseName as u32, ..ReadValueId::new_value(node.clone()) };
    let values = session.read(&[read], TimestampsToReturn::Neither, 0.0).await.map_err(|e| format!("{node}: {e}"))?;
    match values.first().and_then(|v| v.value.as_ref()) {
        Some(Variant::QualifiedName(q)) => Ok(q.name.as_ref().to_owned()),
        _ => Err(format!("the folder {node} was not found on the server")),
    }
}

/// Walks the folder's hierarchy (objects and folders), collecting variables with their browse path.
pub(super) async fn browse_variables(
    session: &Session,
    root: NodeId,
    root_name: String,
    out: &mut Vec<(NodeId, Arc<str>)>,
) -> Result<(), String> {
    let mut stack = vec![(root, root_name)];
    let mut visited = std::collections::HashSet::new();
    let classes = (NodeClass::Object as u32) | (NodeClass::Variable as u32);
    while let Some((node, path)) = stack.pop() {
        if !visited.insert(node.clone()) {
            continue;
        }
        browse_pages(session, children_of(node, classes, BrowseResultMask::All), |r| {
            let child = format!("{path}/{}", r.browse_name.name.as_ref());
            match r.node_class {
                NodeClass::Variable => out.push((r.node_id.node_id, Arc::from(child))),
                NodeClass::Object => stack.push((r.node_id.node_id, child)),
                _ => {}
            }
            false
        })
        .await?;
    }
    Ok(())
}
