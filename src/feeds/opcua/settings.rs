//! What an OPC UA gateway is configured with: the server, its security, what to subscribe to and how.

use std::path::PathBuf;

use crate::feeds::link::Link;

/// The security an OPC UA connection asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpcUaSecurity {
    /// No signing, no encryption: only where the network itself is trusted.
    None,
    Basic256Sha256,
    Aes128Sha256RsaOaep,
    Aes256Sha256RsaPss,
}

impl OpcUaSecurity {
    pub fn parse(s: &str) -> Option<Self> {
        match s.trim().to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "none" => Some(Self::None),
            "basic256sha256" => Some(Self::Basic256Sha256),
            "aes128" | "aes128sha256rsaoaep" => Some(Self::Aes128Sha256RsaOaep),
            "aes256" | "aes256sha256rsapss" => Some(Self::Aes256Sha256RsaPss),
            _ => None,
        }
    }
}

/// An OPC UA server read by subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct OpcUaGateway {
    /// `opc.tcp://host:port/path`; the username and password are in `link.credentials`.
    pub link: Link,
    pub security: OpcUaSecurity,
    /// Sign only (`false`) or sign and encrypt (`true`, the default); meaningless with no security.
    pub encrypt: bool,
    /// Folders (node ids) whose variables become signals named by their browse path from the folder.
    pub folders: Vec<String>,
    /// Signal id → node id, e.g. `nsu=urn:plc;s=Line1.Filler.Temp`.
    pub nodes: Vec<(String, String)>,
    pub sampling_ms: f64,
    pub queue_size: u32,
    /// Absolute deadband of numeric items; 0: every change.
    pub deadband: f64,
    /// Percent of the node's `EURange` a value must move to be reported, for nodes that have an `EURange` (the
    /// others keep `deadband`); 0: none.
    pub deadband_percent: f64,
    /// An item with no value for this long is shown stale (its last value, greyed) while the rest flows; `None`:
    /// items are judged with their gateway only (for servers that report only changes).
    pub item_stale_after_ms: Option<i64>,
    /// Where the client's certificate and the trust list live (the data dir's `opcua-pki` when `None`).
    pub pki_dir: Option<PathBuf>,
}

/// A folder or a node added to an OPC UA gateway's mapping (by the Connections view's browser): into the config
/// file and into the running feed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OpcUaMapping {
    /// Every variable below, named by browse path from the folder.
    Folder(String),
    /// One node as one signal.
    Node { signal: String, node: String },
}

impl OpcUaMapping {
    /// Whether `config` does not map it yet.
    pub fn adds_to(&self, config: &OpcUaGateway) -> bool {
        match self {
            Self::Folder(folder) => !config.folders.contains(folder),
            Self::Node { signal, node } => !config.nodes.iter().any(|(s, n)| s == signal && n == node),
        }
    }

    /// Adds it to `config` (a node replaces what its signal was mapped to); false when it was there already.
    pub fn apply(&self, config: &mut OpcUaGateway) -> bool {
        if !self.adds_to(config) {
            return false;
        }
        match self {
            Self::Folder(folder) => config.folders.push(folder.clone()),
            Self::Node { signal, node } => {
                config.nodes.retain(|(s, _)| s != signal);
                config.nodes.push((signal.clone(), node.clone()));
            }
        }
        true
    }
}
