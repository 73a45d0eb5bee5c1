//! CDI spec files: their types, read from JSON or YAML, and checked as the CDI
//! specification says: a known `cdiVersion` that is recent enough for the fields the
//! file uses, a valid `kind`, valid device names, no unknown fields.

use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::Path;

/// Every released CDI spec version, oldest first. A patch release (1.0.1) is read
/// as its minor version: the spec changes only with minor versions.
pub const VERSIONS: [&str; 10] =
    ["0.1.0", "0.2.0", "0.3.0", "0.4.0", "0.5.0", "0.6.0", "0.7.0", "0.8.0", "1.0.0", "1.1.0"];

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SpecFile {
    pub cdi_version: String,
    pub kind: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    pub devices: Vec<Device>,
    #[serde(default)]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Device {
    pub name: String,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub container_edits: ContainerEdits,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ContainerEdits {
    #[serde(default)]
    pub env: Vec<String>,
    #[serde(default)]
    pub device_nodes: Vec<DeviceNode>,
    #[serde(default)]
    pub hooks: Vec<Hook>,
    #[serde(default)]
    pub mounts: Vec<Mount>,
    #[serde(default)]
    pub intel_rdt: Option<serde_json::Value>,
    #[serde(default)]
    pub additional_gids: Vec<u32>,
    #[serde(default)]
    pub net_devices: Vec<serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DeviceNode {
    pub path: String,
    pub host_path: Option<String>,
    #[serde(rename = "type")]
    pub typ: Option<String>,
    pub major: Option<i64>,
    pub minor: Option<i64>,
    pub file_mode: Option<u32>,
    pub permissions: Option<String>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Mount {
    pub host_path: String,
    pub container_path: String,
    #[serde(rename = "type")]
    pub typ: Option<String>,
    #[serde(default)]
    pub options: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Hook {
    pub hook_name: String,
    pub path: String,
    #[serde(default)]
    pub args: Vec<String>,
    #[serde(default)]
    pub env: Vec<String>,
    pub timeout: Option<i64>,
}

impl SpecFile {
    /// Reads and checks one spec file; `.yaml`/`.yml` are YAML, anything else JSON.
    /// The error names what is wrong; the caller adds the file's name.
    pub fn read(path: &Path) -> Result<SpecFile, String> {
        let bytes = crate::small_file::read_regular(path).map_err(|e| e.to_string())?;
        let text = String::from_utf8(bytes).map_err(|e| e.to_string())?;
        let yaml = path.extension().is_some_and(|e| e == "yaml" || e == "yml");
        let value = if yaml {
            yaml_to_json(&text)?
        } else {
            serde_json::from_str(&text).map_err(|e| e.to_string())?
        };
        let spec: SpecFile = serde_json::from_value(value).map_err(|e| e.to_string())?;
        spec.check()?;
        Ok(spec)
    }

    fn check(&self) -> Result<(), String> {
        let declared = version_of(&self.cdi_version)?;
        let (needed, feature) = self.required_version();
        if declared < needed {
            return Err(format!(
                "cdiVersion {} is too old for {feature}, which needs {}.{}.0",
                self.cdi_version, needed.0, needed.1
            ));
        }
        check_kind(&self.kind)?;
        if self.devices.is_empty() {
            return Err("devices: a spec must define at least one device".into());
        }
        for device in &self.devices {
            check_name(&device.name).map_err(|e| format!("devices: {e}"))?;
        }
        Ok(())
    }

    /// The oldest version that has every field this file uses, and the newest such
    /// field, as the CDI specification's version table lists them.
    fn required_version(&self) -> ((u64, u64), &'static str) {
        let edits =
            std::iter::once(&self.container_edits).chain(self.devices.iter().map(|d| &d.container_edits));
        let mut needed = ((0, 1), "");
        let mut need = |version: (u64, u64), feature: &'static str| {
            if version > needed.0 {
                needed = (version, feature);
            }
        };
        for e in edits {
            if e.mounts.iter().any(|m| m.typ.is_some()) {
                need((0, 4), "containerEdits.mounts[].type");
            }
            if e.device_nodes.iter().any(|d| d.host_path.is_some()) {
                need((0, 5), "containerEdits.deviceNodes[].hostPath");
            }
            if e.intel_rdt.is_some() {
                need((0, 7), "containerEdits.intelRdt");
            }
            if !e.additional_gids.is_empty() {
                need((0, 7), "containerEdits.additionalGids");
            }
            if !e.net_devices.is_empty() {
                need((1, 1), "containerEdits.netDevices");
            }
        }
        if !self.annotations.is_empty() || self.devices.iter().any(|d| !d.annotations.is_empty()) {
            need((0, 6), "annotations");
        }
        if self.kind.split_once('/').is_some_and(|(_, class)| class.contains('.')) {
            need((0, 6), "a dot in the kind's class");
        }
        needed
    }
}

/// (major, minor) of a `cdiVersion` this runtime reads; a newer one is refused by name.
fn version_of(text: &str) -> Result<(u64, u64), String> {
    let version = major_minor(text)
        .ok_or_else(|| format!("cdiVersion {text:?} is not a version (MAJOR.MINOR.PATCH)"))?;
    if VERSIONS.iter().any(|v| major_minor(v) == Some(version)) {
        return Ok(version);
    }
    let newest = VERSIONS[VERSIONS.len() - 1];
    if Some(version) > major_minor(newest) {
        Err(format!("cdiVersion {text} is newer than the CDI versions this runtime reads (up to {newest})"))
    } else {
        Err(format!("cdiVersion {text} is not a released CDI version"))
    }
}

/// MAJOR.MINOR.PATCH as (major, minor); anything else is None.
fn major_minor(text: &str) -> Option<(u64, u64)> {
    let parts: Vec<u64> = text.split('.').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    match parts[..] {
        [major, minor, _patch] => Some((major, minor)),
        _ => None,
    }
}

/// `vendor.com/class`: a vendor of DNS-like labels and a class name.
pub fn check_kind(kind: &str) -> Result<(), String> {
    let (vendor, class) =
        kind.split_once('/').ok_or_else(|| format!("kind {kind:?} is not of the form vendor.com/class"))?;
    let vendor_ok = vendor.starts_with(|c: char| c.is_ascii_alphabetic()) && is_name(vendor, "-_.");
    let class_ok = is_name(class, "-_.");
    if vendor_ok && class_ok {
        Ok(())
    } else {
        Err(format!("kind {kind:?} is not of the form vendor.com/class"))
    }
}

/// A device name: letters, digits, `-`, `_`, `.` and `:`, starting and ending with a
/// letter or digit.
pub fn check_name(name: &str) -> Result<(), String> {
    if is_name(name, "-_.:") {
        Ok(())
    } else {
        Err(format!("device name {name:?} is invalid (letters, digits, -, _, . and : only)"))
    }
}

fn is_name(s: &str, inner: &str) -> bool {
    let alnum = |c: char| c.is_ascii_alphanumeric();
    s.starts_with(alnum) && s.ends_with(alnum) && s.chars().all(|c| alnum(c) || inner.contains(c))
}

/// YAML read into the same JSON value a JSON spec gives, so both forms go through one
/// set of types and one set of error messages.
fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    use yaml_rust2::{Yaml, YamlLoader};
    fn convert(y: &Yaml) -> Result<serde_json::Value, String> {
        use serde_json::Value;
        Ok(match y {
            Yaml::Null => Value::Null,
            Yaml::Boolean(b) => Value::Bool(*b),
            Yaml::Integer(i) => Value::from(*i),
            Yaml::Real(r) => r.parse::<f64>().map(Value::from).map_err(|_| format!("bad number {r}"))?,
            Yaml::String(s) => Value::String(s.clone()),
            Yaml::Array(items) => Value::Array(items.iter().map(convert).collect::<Result<_, _>>()?),
            Yaml::Hash(map) => {
                let mut object = serde_json::Map::new();
                for (k, v) in map {
                    let key = match k {
                        Yaml::String(s) => s.clone(),
                        Yaml::Integer(i) => i.to_string(),
                        other => return Err(format!("a mapping key must be a string, not {other:?}")),
                    };
                    object.insert(key, convert(v)?);
                }
                Value::Object(object)
            }
            Yaml::Alias(_) => return Err("YAML aliases are not supported".into()),
            Yaml::BadValue => return Err("unreadable YAML value".into()),
        })
    }
    let docs = YamlLoader::load_from_str(text).map_err(|e| format!("YAML: {e}"))?;
    match docs.as_slice() {
        [doc] => convert(doc),
        _ => Err(format!("YAML: expected one document, found {}", docs.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: serde_json::Value) -> Result<SpecFile, String> {
        let spec: SpecFile = serde_json::from_value(json).map_err(|e| e.to_string())?;
        spec.check().map(|()| spec)
    }

    fn minimal(version: &str) -> serde_json::Value {
        serde_json::json!({"cdiVersion": version, "kind": "vendor.com/gpu", "devices": [{"name": "0", "containerEdits": {}}]})
    }

    #[test]
    fn every_released_version_is_read_and_a_newer_one_is_refused_by_name() {
        for v in VERSIONS.iter().chain(&["1.0.1", "1.1.1"]) {
            parse(minimal(v)).unwrap_or_else(|e| panic!("{v}: {e}"));
        }
        let err = parse(minimal("1.2.0")).unwrap_err();
        assert!(err.contains("1.2.0") && err.contains("newer"), "{err}");
        assert!(parse(minimal("one")).unwrap_err().contains("not a version"));
    }

    #[test]
    fn a_field_newer_than_the_declared_version_is_refused() {
        let mut spec = minimal("0.4.0");
        spec["devices"][0]["containerEdits"]["deviceNodes"] =
            serde_json::json!([{"path": "/dev/x", "hostPath": "/dev/null"}]);
        let err = parse(spec).unwrap_err();
        assert!(err.contains("hostPath") && err.contains("0.5.0"), "{err}");
        let mut spec = minimal("0.6.0");
        spec["containerEdits"] = serde_json::json!({"additionalGids": [5]});
        assert!(parse(spec).unwrap_err().contains("0.7.0"));
    }

    #[test]
    fn kinds_and_names_are_checked() {
        assert!(check_kind("vendor.com/gpu").is_ok());
        assert!(check_kind("foo.bar.baz/foo-bar123.B_az").is_ok());
        for bad in ["foo", "vendor.com/foo/", "vendor.com/foo/bar", "/gpu", "vendor.com/"] {
            assert!(check_kind(bad).is_err(), "{bad}");
        }
        assert!(check_name("gpu0").is_ok() && check_name("0").is_ok() && check_name("a:b").is_ok());
        assert!(check_name("-gpu").is_err() && check_name("gpu/0").is_err() && check_name("").is_err());
    }

    #[test]
    fn yaml_and_json_read_the_same() {
        let yaml = "cdiVersion: 0.6.0\nkind: vendor.com/gpu\ndevices:\n- name: gpu0\n  containerEdits:\n    env: [A=1]\n    deviceNodes:\n    - path: /dev/gpu0\n      major: 195\n      minor: 0\n";
        let value = yaml_to_json(yaml).unwrap();
        let spec: SpecFile = serde_json::from_value(value).unwrap();
        assert_eq!(spec.devices[0].container_edits.env, ["A=1"]);
        assert_eq!(spec.devices[0].container_edits.device_nodes[0].major, Some(195));
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut spec = minimal("0.6.0");
        spec["devices"][0]["containerEdits"]["deviceNode"] = serde_json::json!([]);
        assert!(parse(spec).unwrap_err().contains("deviceNode"));
    }
}
