//! Adds and removes the shim's runtime handler in containerd's config.toml
//! with `toml_edit`, which keeps every comment, blank line, quote style and
//! the order of what it does not touch: the file is parsed, one table is
//! inserted (or removed), and the document is printed again.
//!
//! Where the handler goes depends on the config's `version`:
//! - 2 (containerd 1.6 / 1.7; 2.x migrates it when it loads):
//!   `[plugins."io.containerd.grpc.v1.cri".containerd.runtimes.<handler>]`
//! - 3 (containerd 2.0-2.2) and 4 (containerd 2.3, which moved the server
//!   addresses into plugins but left the CRI runtimes where they were):
//!   `[plugins."io.containerd.cri.v1.runtime".containerd.runtimes.<handler>]`
//!
//! The table holds only `runtime_type = "io.containerd.rust.v2"`: without an
//! `options` table the CRI plugin sends the shim no runtime options, which
//! the shim accepts (an operator can add one; see README).
//!
//! containerd 1.x *replaces* its default runtimes map with the one in the
//! file (checked with `containerd config dump`: a file with only the `rust`
//! runtime loses `runc`, and the CRI plugin then refuses to load because
//! `default_runtime_name = "runc"` names nothing). So for version 2, when
//! the map has no entry for the default runtime `runc`, one is added with
//! containerd's default `runtime_type = "io.containerd.runc.v2"` (only
//! while `default_runtime_name` is unset or "runc"). 2.x
//! merges the file's map into its defaults, so nothing is needed there.

use std::path::Path;

use toml_edit::{DocumentMut, Item, Key, Table, Value};

use super::error::NodeError;

pub const RUNTIME_TYPE: &str = "io.containerd.rust.v2";
const RUNC_RUNTIME_TYPE: &str = "io.containerd.runc.v2";

/// The config formats the handler can be written into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigVersion {
    /// containerd 1.x (and 2.x, which migrates it).
    V2,
    /// containerd 2.0-2.2 (2.3 reads it too).
    V3,
    /// containerd 2.3 and later.
    V4,
}

impl ConfigVersion {
    pub fn number(self) -> i64 {
        match self {
            ConfigVersion::V2 => 2,
            ConfigVersion::V3 => 3,
            ConfigVersion::V4 => 4,
        }
    }

    /// The format a containerd of this version writes by default.
    pub fn for_containerd(major: u32, minor: u32) -> Option<Self> {
        match (major, minor) {
            (1, _) => Some(ConfigVersion::V2),
            (2, 0..=2) => Some(ConfigVersion::V3),
            (2, _) => Some(ConfigVersion::V4),
            _ => None,
        }
    }

    /// The oldest containerd (major, minor) that reads this format.
    pub fn oldest_reader(self) -> (u32, u32) {
        match self {
            ConfigVersion::V2 => (1, 0),
            ConfigVersion::V3 => (2, 0),
            ConfigVersion::V4 => (2, 3),
        }
    }

    /// The CRI plugin's runtimes table.
    pub fn runtimes_path(self) -> [&'static str; 4] {
        let plugin = match self {
            ConfigVersion::V2 => "io.containerd.grpc.v1.cri",
            ConfigVersion::V3 | ConfigVersion::V4 => "io.containerd.cri.v1.runtime",
        };
        ["plugins", plugin, "containerd", "runtimes"]
    }

    /// Plugin ids that, in `disabled_plugins`, switch the handler off.
    pub fn cri_plugin_ids(self) -> &'static [&'static str] {
        match self {
            ConfigVersion::V2 => &["io.containerd.grpc.v1.cri", "cri"],
            ConfigVersion::V3 | ConfigVersion::V4 => {
                &["io.containerd.cri.v1.runtime", "io.containerd.grpc.v1.cri"]
            }
        }
    }

    /// `[plugins."…".containerd.runtimes.<handler>]` as a reader writes it.
    pub fn table_name(self, handler: &str) -> String {
        let [p, plugin, c, r] = self.runtimes_path();
        format!("[{p}.\"{plugin}\".{c}.{r}.{handler}]")
    }
}

/// Parses a config; refuses one that toml_edit would not print back byte
/// for byte, since rewriting it would then change more than the handler.
pub fn parse(text: &str, path: &Path) -> Result<DocumentMut, NodeError> {
    let doc: DocumentMut = text.parse().map_err(|e| NodeError::Parse {
        path: path.to_path_buf(),
        source: Box::new(e),
    })?;
    if doc.to_string() != text {
        return Err(NodeError::config(
            path,
            "the TOML editor would not reproduce this file byte for byte; \
             refusing to rewrite it (add the handler table by hand)",
        ));
    }
    Ok(doc)
}

/// The `version` key: `None` when there is none.
pub fn declared_version(
    doc: &DocumentMut,
    path: &Path,
) -> Result<Option<ConfigVersion>, NodeError> {
    let Some(item) = doc.get("version") else {
        return Ok(None);
    };
    match item.as_integer() {
        Some(2) => Ok(Some(ConfigVersion::V2)),
        Some(3) => Ok(Some(ConfigVersion::V3)),
        Some(4) => Ok(Some(ConfigVersion::V4)),
        Some(1) => Err(NodeError::config(
            path,
            "config version 1 is deprecated and not supported here; \
             convert it first (`containerd config migrate` on 2.x, or by hand to version 2)",
        )),
        _ => Err(NodeError::config(
            path,
            format!(
                "`version = {}` is not a containerd config version (2, 3 or 4 expected)",
                item.to_string().trim()
            ),
        )),
    }
}

/// The version a config is written in. A file without a `version` key is
/// version 1 to containerd; if it has no `plugins` either (empty, comments,
/// top-level settings only) the two formats agree on it, and `fallback` (from
/// the containerd binary) is used and written into it.
pub fn version_of(
    doc: &DocumentMut,
    path: &Path,
    fallback: Option<ConfigVersion>,
) -> Result<(ConfigVersion, bool), NodeError> {
    if let Some(v) = declared_version(doc, path)? {
        return Ok((v, false));
    }
    if doc.contains_key("plugins") {
        return Err(NodeError::config(
            path,
            "no `version` key but a `plugins` table: that is a version 1 config, \
             which is deprecated and not supported here; add `version = 2` (containerd 1.x) \
             after converting its plugin names",
        ));
    }
    match fallback {
        Some(v) => Ok((v, true)),
        None => Err(NodeError::config(
            path,
            "no `version` key and no containerd binary to ask: cannot tell version 2 \
             (containerd 1.x) from version 3 (2.x); add `version = 2` or `version = 3`",
        )),
    }
}

/// What an edit did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Edited {
    pub text: String,
    pub version: ConfigVersion,
    /// Human-readable lines, one per change; empty when nothing changed.
    pub changes: Vec<String>,
}

impl Edited {
    pub fn changed(&self) -> bool {
        !self.changes.is_empty()
    }
}

/// Adds the handler table (idempotent: a handler already there with our
/// runtime_type is left as it is). A handler of that name with another
/// runtime_type is refused: it belongs to someone else.
pub fn add_handler(
    text: &str,
    path: &Path,
    handler: &str,
    fallback: Option<ConfigVersion>,
) -> Result<Edited, NodeError> {
    let mut doc = parse(text, path)?;
    let (version, add_version_key) = version_of(&doc, path, fallback)?;
    let mut changes = vec![];
    if let Some(found) = handler_runtime_type(&doc, version, handler) {
        if found.as_deref() == Some(RUNTIME_TYPE) {
            return Ok(Edited {
                text: text.to_string(),
                version,
                changes,
            });
        }
        return Err(NodeError::config(
            path,
            format!(
                "{} exists with runtime_type {}, not {RUNTIME_TYPE:?}: refusing to change \
                 another runtime's handler (choose another --handler)",
                version.table_name(handler),
                found.map_or("unset".to_string(), |t| format!("{t:?}"))
            ),
        ));
    }
    if add_version_key {
        add_version(&mut doc, version);
        changes.push(format!("set `version = {}`", version.number()));
    }
    let default_runtime = default_runtime_name(&doc, version);
    let runtimes = table_at(doc.as_table_mut(), &version.runtimes_path(), path)?;
    if version == ConfigVersion::V2 && default_runtime == "runc" && !runtimes.contains_key("runc") {
        // See the module comment: 1.x would otherwise lose runc.
        insert_runtime(runtimes, "runc", RUNC_RUNTIME_TYPE);
        changes.push(format!(
            "added {} with runtime_type = {RUNC_RUNTIME_TYPE:?} (containerd 1.x's default runtime, \
             which a runtimes map in the file replaces)",
            version.table_name("runc")
        ));
    }
    insert_runtime(runtimes, handler, RUNTIME_TYPE);
    changes.push(format!(
        "added {} with runtime_type = {RUNTIME_TYPE:?}",
        version.table_name(handler)
    ));
    Ok(Edited {
        text: doc.to_string(),
        version,
        changes,
    })
}

/// Removes the handler table, and the tables that held it if they are left
/// empty and had no header of their own in the file (toml_edit's implicit
/// tables: the ones `add_handler` creates). Nothing else is touched.
pub fn remove_handler(text: &str, path: &Path, handler: &str) -> Result<Edited, NodeError> {
    let mut doc = parse(text, path)?;
    let Some(version) = declared_version(&doc, path)? else {
        return Ok(Edited {
            text: text.to_string(),
            version: ConfigVersion::V2,
            changes: vec![],
        });
    };
    match handler_runtime_type(&doc, version, handler) {
        None => {
            return Ok(Edited {
                text: text.to_string(),
                version,
                changes: vec![],
            })
        }
        Some(Some(t)) if t == RUNTIME_TYPE => {}
        Some(found) => {
            return Err(NodeError::config(
                path,
                format!(
                    "{} has runtime_type {}, not {RUNTIME_TYPE:?}: it is not this shim's, not removing it",
                    version.table_name(handler),
                    found.map_or("unset".to_string(), |t| format!("{t:?}"))
                ),
            ))
        }
    }
    let keys = version.runtimes_path();
    remove_and_prune(doc.as_table_mut(), &keys, handler);
    Ok(Edited {
        text: doc.to_string(),
        version,
        changes: vec![format!("removed {}", version.table_name(handler))],
    })
}

/// `Some(runtime_type)` when the handler table exists (`Some(None)` if it
/// has no string runtime_type), `None` when it does not.
pub fn handler_runtime_type(
    doc: &DocumentMut,
    version: ConfigVersion,
    handler: &str,
) -> Option<Option<String>> {
    let mut item: &Item = doc.as_item();
    for key in version.runtimes_path().iter().chain([&handler]) {
        item = item.as_table_like()?.get(key)?;
    }
    let table = item.as_table_like()?;
    Some(
        table
            .get("runtime_type")
            .and_then(|i| i.as_str())
            .map(str::to_string),
    )
}

/// `default_runtime_name` of the CRI plugin (containerd's default: runc).
fn default_runtime_name(doc: &DocumentMut, version: ConfigVersion) -> String {
    let [p, plugin, c, _] = version.runtimes_path();
    doc.get(p)
        .and_then(|i| i.get(plugin))
        .and_then(|i| i.get(c))
        .and_then(|i| i.get("default_runtime_name"))
        .and_then(|i| i.as_str())
        .unwrap_or("runc")
        .to_string()
}

/// The entries of `disabled_plugins` that switch the CRI plugin (and with
/// it every handler) off.
pub fn disabled_cri_plugins(doc: &DocumentMut, version: ConfigVersion) -> Vec<String> {
    let Some(list) = doc.get("disabled_plugins").and_then(|i| i.as_array()) else {
        return vec![];
    };
    list.iter()
        .filter_map(|v| v.as_str())
        .filter(|id| version.cri_plugin_ids().contains(id))
        .map(str::to_string)
        .collect()
}

/// The minimal config `install` writes when there is none: only `version`;
/// containerd's defaults apply to everything else.
pub fn skeleton(version: ConfigVersion) -> String {
    let mut doc = DocumentMut::new();
    add_version(&mut doc, version);
    if let Some(mut key) = doc.as_table_mut().key_mut("version") {
        key.leaf_decor_mut().set_prefix(
            "# containerd config written by `containerd-shim-rust-v2 install` (there was none).\n\
             # Everything not set here has containerd's default (`containerd config default`).\n",
        );
    }
    doc.to_string()
}

fn add_version(doc: &mut DocumentMut, version: ConfigVersion) {
    let root = doc.as_table_mut();
    let was_empty = root.is_empty();
    root.insert("version", toml_edit::value(version.number()));
    if was_empty {
        // Comments of a file without keys are the document's trailing text:
        // keep them above the new key rather than after it.
        let trailing = doc.trailing().as_str().unwrap_or("").to_string();
        if !trailing.trim().is_empty() {
            if let Some(mut key) = doc.as_table_mut().key_mut("version") {
                key.leaf_decor_mut().set_prefix(trailing);
            }
            doc.set_trailing("");
        }
    }
}

/// The table at `keys`, creating missing ones as implicit tables (no header
/// of their own unless they get keys).
fn table_at<'a>(
    root: &'a mut Table,
    keys: &[&str],
    path: &Path,
) -> Result<&'a mut Table, NodeError> {
    let mut table = root;
    for (i, key) in keys.iter().enumerate() {
        if !table.contains_key(key) {
            let mut t = Table::new();
            t.set_implicit(true);
            table.insert(key, Item::Table(t));
        }
        let item = table.get_mut(key).expect("inserted above");
        let kind = item.type_name();
        table = item.as_table_mut().ok_or_else(|| {
            NodeError::config(
                path,
                format!(
                    "`{}` is {kind}, not a table: cannot add the handler under it (add it by hand)",
                    keys[..=i].join(".")
                ),
            )
        })?;
    }
    Ok(table)
}

/// Inserts `[<runtimes>.<name>]` with one `runtime_type` key, indented and
/// quoted like the runtimes already in the table (containerd 1.x writes
/// `"…"`, 2.x `'…'`, both indent by depth).
fn insert_runtime(runtimes: &mut Table, name: &str, runtime_type: &str) {
    let sibling = runtimes.iter().find_map(|(_, item)| item.as_table());
    let (header_indent, key_indent, literal) = match sibling {
        Some(s) => {
            let header = s
                .decor()
                .prefix()
                .and_then(|p| p.as_str())
                .map(|p| p.rsplit('\n').next().unwrap_or("").to_string())
                .unwrap_or_default();
            let first_key = s.iter().next().map(|(k, _)| k.to_string());
            let key = first_key
                .and_then(|k| {
                    s.key(&k)
                        .and_then(|k| k.leaf_decor().prefix())
                        .and_then(|p| p.as_str())
                })
                .map(|p| p.rsplit('\n').next().unwrap_or("").to_string())
                .unwrap_or_default();
            let literal = s
                .get("runtime_type")
                .and_then(|i| i.as_value())
                .is_some_and(|v| v.to_string().trim_start().starts_with('\''));
            (header, key, literal)
        }
        None => (String::new(), String::new(), false),
    };
    let mut value: Value = if literal {
        format!("'{runtime_type}'")
            .parse()
            .expect("a runtime type without quotes is a valid literal string")
    } else {
        Value::from(runtime_type)
    };
    value.decor_mut().set_prefix(" ");
    value.decor_mut().set_suffix("");
    let mut table = Table::new();
    let key = Key::new("runtime_type").with_leaf_decor(toml_edit::Decor::new(key_indent, " "));
    table.insert_formatted(&key, Item::Value(value));
    table.decor_mut().set_prefix(format!("\n{header_indent}"));
    runtimes.insert(name, Item::Table(table));
}

/// Removes `keys.handler`, then every table on `keys` left empty that has no
/// header of its own, deepest first.
fn remove_and_prune(table: &mut Table, keys: &[&str], handler: &str) {
    let Some((first, rest)) = keys.split_first() else {
        table.remove(handler);
        return;
    };
    let Some(child) = table.get_mut(first).and_then(|i| i.as_table_mut()) else {
        return;
    };
    remove_and_prune(child, rest, handler);
    if child.is_empty() && child.is_implicit() {
        table.remove(first);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::node::line_diff;

    const P: &str = "/etc/containerd/config.toml";
    pub const FIXTURES: [(&str, &str, ConfigVersion); 5] = [
        (
            "1.6.20",
            include_str!("../../tests/fixtures/containerd-config/default-1.6.20.toml"),
            ConfigVersion::V2,
        ),
        (
            "1.7.24",
            include_str!("../../tests/fixtures/containerd-config/default-1.7.24.toml"),
            ConfigVersion::V2,
        ),
        (
            "2.1.9",
            include_str!("../../tests/fixtures/containerd-config/default-2.1.9.toml"),
            ConfigVersion::V3,
        ),
        (
            "2.2.7",
            include_str!("../../tests/fixtures/containerd-config/default-2.2.7.toml"),
            ConfigVersion::V3,
        ),
        (
            "2.3.4",
            include_str!("../../tests/fixtures/containerd-config/default-2.3.4.toml"),
            ConfigVersion::V4,
        ),
    ];

    fn path() -> &'static Path {
        Path::new(P)
    }

    /// The lines only in `new`, as the diff shows them.
    fn added_lines(old: &str, new: &str) -> Vec<String> {
        let d = line_diff::unified(old, new, "a", "b");
        assert!(
            !d.lines()
                .any(|l| l.starts_with('-') && !l.starts_with("---")),
            "the edit removed lines:\n{d}"
        );
        d.lines()
            .filter(|l| l.starts_with('+') && !l.starts_with("+++"))
            .map(|l| l[1..].to_string())
            .collect()
    }

    #[test]
    fn adds_the_handler_to_each_default_config_and_only_it() {
        for (release, text, version) in FIXTURES {
            let e = add_handler(text, path(), "rust", None).unwrap();
            assert_eq!(e.version, version, "{release}");
            assert_eq!(e.changes.len(), 1, "{release}: {:?}", e.changes);
            let quote = if version != ConfigVersion::V2 {
                '\''
            } else {
                '"'
            };
            let [p, plugin, c, r] = version.runtimes_path();
            // Indented and quoted as the runc table next to it.
            assert_eq!(
                added_lines(text, &e.text),
                vec![
                    format!("        [{p}.{quote}{plugin}{quote}.{c}.{r}.rust]"),
                    format!("          runtime_type = {quote}io.containerd.rust.v2{quote}"),
                    String::new(),
                ],
                "{release}"
            );
            let doc = parse(&e.text, path()).unwrap();
            assert_eq!(
                handler_runtime_type(&doc, version, "rust"),
                Some(Some(RUNTIME_TYPE.to_string())),
                "{release}"
            );
            assert!(disabled_cri_plugins(&doc, version).is_empty());
        }
    }

    #[test]
    fn adding_twice_changes_nothing_and_removing_gives_the_original_back() {
        for (release, text, _) in FIXTURES {
            let once = add_handler(text, path(), "rust-inst", None).unwrap();
            let twice = add_handler(&once.text, path(), "rust-inst", None).unwrap();
            assert!(!twice.changed(), "{release}: {:?}", twice.changes);
            assert_eq!(twice.text, once.text, "{release}");
            let removed = remove_handler(&once.text, path(), "rust-inst").unwrap();
            assert!(removed.changed());
            assert_eq!(removed.text, text, "{release}: not byte for byte");
            assert!(!remove_handler(text, path(), "rust-inst").unwrap().changed());
        }
    }

    #[test]
    fn comments_and_odd_formatting_survive() {
        for (release, text, version) in FIXTURES {
            let user = format!(
                "# node config, managed by hand\n# (second line)\n{}",
                text.replace(
                    "SystemdCgroup = false",
                    "SystemdCgroup = false   # cgroupfs here"
                )
                .replace("\n[debug]", "\n\n# logging\n[debug]   # trailing")
            );
            let e = add_handler(&user, path(), "rust", None).unwrap();
            for needle in [
                "# node config, managed by hand\n# (second line)\n",
                "# cgroupfs here",
                "# logging\n[debug]   # trailing",
            ] {
                assert!(e.text.contains(needle), "{release}: lost {needle:?}");
            }
            assert_eq!(added_lines(&user, &e.text).len(), 3, "{release}");
            assert_eq!(
                remove_handler(&e.text, path(), "rust").unwrap().text,
                user,
                "{release}"
            );
            assert_eq!(e.version, version);
        }
    }

    #[test]
    fn a_handler_of_another_runtime_is_refused() {
        let (_, text, _) = FIXTURES[0];
        let e = add_handler(text, path(), "runc", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("runtimes.runc] exists with runtime_type \"io.containerd.runc.v2\""),
            "{e}"
        );
        assert!(e.contains(P), "{e}");
        let e = remove_handler(text, path(), "runc")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not this shim's"), "{e}");
    }

    #[test]
    fn a_config_without_runtimes_gets_runc_kept_on_version_2_only() {
        let v2 = "version = 2\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  sandbox_image = \"pause:3.9\"\n";
        let e = add_handler(v2, path(), "rust", None).unwrap();
        let doc = parse(&e.text, path()).unwrap();
        assert_eq!(
            handler_runtime_type(&doc, ConfigVersion::V2, "runc"),
            Some(Some(RUNC_RUNTIME_TYPE.into()))
        );
        assert_eq!(e.changes.len(), 2, "{:?}", e.changes);
        // The explicit CRI table stays, the implicit ones under it go.
        let back = remove_handler(&e.text, path(), "rust").unwrap().text;
        assert!(back.starts_with(v2), "{back}");

        let custom = "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".containerd]\n  default_runtime_name = \"rust\"\n";
        let e = add_handler(custom, path(), "rust", None).unwrap();
        assert_eq!(e.changes.len(), 1, "{:?}", e.changes);

        let v3 = "version = 3\n";
        let e = add_handler(v3, path(), "rust", None).unwrap();
        assert_eq!(e.changes.len(), 1, "{:?}", e.changes);
        assert_eq!(remove_handler(&e.text, path(), "rust").unwrap().text, v3);
    }

    #[test]
    fn the_version_key_decides_and_is_only_added_to_a_file_without_plugins() {
        let e = add_handler(
            "# just a comment\n",
            path(),
            "rust",
            Some(ConfigVersion::V3),
        )
        .unwrap();
        assert!(
            e.text.starts_with("# just a comment\nversion = 3\n"),
            "{}",
            e.text
        );
        assert_eq!(e.changes[0], "set `version = 3`");
        let e = add_handler("", path(), "rust", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("no `version` key and no containerd binary"),
            "{e}"
        );
        let e =
            add_handler("[plugins.cri]\n", path(), "rust", Some(ConfigVersion::V2)).unwrap_err();
        assert!(e.to_string().contains("version 1 config"), "{e}");
        let e = add_handler("version = 1\n", path(), "rust", None).unwrap_err();
        assert!(
            e.to_string().contains("config version 1 is deprecated"),
            "{e}"
        );
        let e = add_handler("version = \"two\"\n", path(), "rust", None).unwrap_err();
        assert!(e.to_string().contains("`version = \"two\"` is not"), "{e}");
        // The file's version wins over containerd's.
        let (_, text, _) = FIXTURES[0];
        assert_eq!(
            add_handler(text, path(), "rust", Some(ConfigVersion::V3))
                .unwrap()
                .version,
            ConfigVersion::V2
        );
        let e = add_handler("version = 2\n[plugins\n", path(), "rust", None)
            .unwrap_err()
            .to_string();
        assert!(e.starts_with(&format!("{P}: not valid TOML")), "{e}");
    }

    #[test]
    fn a_runtimes_key_that_is_not_a_table_is_named() {
        let text =
            "version = 3\n[plugins.\"io.containerd.cri.v1.runtime\".containerd]\nruntimes = 5\n";
        let e = add_handler(text, path(), "rust", None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("`plugins.io.containerd.cri.v1.runtime.containerd.runtimes` is integer, not a table"), "{e}");
    }

    #[test]
    fn the_skeleton_is_only_the_version() {
        for v in [ConfigVersion::V2, ConfigVersion::V3] {
            let s = skeleton(v);
            let doc = parse(&s, path()).unwrap();
            assert_eq!(declared_version(&doc, path()).unwrap(), Some(v));
            assert_eq!(doc.as_table().len(), 1, "{s}");
            assert!(s.starts_with("# containerd config written by"), "{s}");
        }
    }

    #[test]
    fn disabled_cri_is_reported() {
        let text =
            "version = 2\ndisabled_plugins = [\"cri\", \"io.containerd.snapshotter.v1.btrfs\"]\n";
        let doc = parse(text, path()).unwrap();
        assert_eq!(disabled_cri_plugins(&doc, ConfigVersion::V2), vec!["cri"]);
    }
}
