//! Changing the config file in place, keeping what a person wrote (comments, order, layout).

use super::*;

/// Adds a folder (to `folders`) or a node (`signal = node` in `nodes`) to the OPC UA gateway `gateway` in the config
/// file at `path`, keeping everything else as written (comments, order, layout); the file is replaced whole, so a
/// failed write leaves the old one. Returns false when the mapping was there already.
pub fn add_opcua_mapping(path: &Path, gateway: &str, mapping: &OpcUaMapping) -> Result<bool, String> {
    let text = std::fs::read_to_string(path).map_err(|err| format!("cannot read {}: {err}", path.display()))?;
    let mut doc: toml_edit::DocumentMut =
        text.parse().map_err(|err| format!("{} is not valid TOML: {err}", path.display()))?;
    let tables = doc
        .get_mut("gateway")
        .and_then(toml_edit::Item::as_array_of_tables_mut)
        .ok_or_else(|| format!("{} has no [[gateway]]", path.display()))?;
    let table = tables
        .iter_mut()
        .find(|t| t.get("name").and_then(toml_edit::Item::as_str) == Some(gateway))
        .ok_or_else(|| format!("{} has no gateway named {gateway:?}", path.display()))?;
    let added = match mapping {
        OpcUaMapping::Folder(folder) => {
            let folders = table
                .entry("folders")
                .or_insert_with(|| toml_edit::value(toml_edit::Array::new()))
                .as_array_mut()
                .ok_or("folders is not a list")?;
            let had = folders.iter().any(|f| f.as_str() == Some(folder.as_str()));
            if !had {
                folders.push(folder.as_str());
            }
            !had
        }
        OpcUaMapping::Node { signal, node } => {
            let nodes = table
                .entry("nodes")
                .or_insert_with(|| toml_edit::value(toml_edit::InlineTable::new()))
                .as_table_like_mut()
                .ok_or("nodes is not a table")?;
            let had = nodes.get(signal).and_then(toml_edit::Item::as_str) == Some(node.as_str());
            if !had {
                nodes.insert(signal, toml_edit::value(node.as_str()));
            }
            !had
        }
    };
    if added {
        let tmp = path.with_extension("toml.new");
        std::fs::write(&tmp, doc.to_string()).map_err(|err| format!("cannot write {}: {err}", tmp.display()))?;
        std::fs::rename(&tmp, path).map_err(|err| format!("cannot replace {}: {err}", path.display()))?;
    }
    Ok(added)
}
