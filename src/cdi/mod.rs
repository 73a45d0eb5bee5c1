//! Container Device Interface, built in: `create` and `run` resolve the CDI devices a
//! config's `cdi.k8s.io/*` annotations request (as containerd, CRI-O and device
//! plugins write them) from the spec files in the CDI directories, and apply their
//! edits to the configuration in memory, before anything is created. config.json is
//! never changed. A config that requests nothing costs no file access.

mod edits;
pub mod spec_file;

use crate::error::{Error, Result};
use oci_spec::runtime::Spec;
use spec_file::SpecFile;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Where spec files are looked for, in this order; a later directory's definition of
/// a device replaces an earlier one's.
pub const DEFAULT_SPEC_DIRS: [&str; 2] = ["/etc/cdi", "/var/run/cdi"];

/// Annotation keys with this prefix request devices, their values naming them.
const REQUEST_PREFIX: &str = "cdi.k8s.io/";

/// The state annotation that lists the devices injected, in request order.
pub const INJECTED_ANNOTATION: &str = "io.github.anchor-runtime.cdi.devices";

/// Resolves the requested devices and applies their edits to `spec`. Returns the
/// fully qualified names injected (none when nothing was requested).
pub fn inject(spec: &mut Spec, dirs: &[PathBuf]) -> Result<Vec<String>> {
    let requested = requested_devices(spec)?;
    if requested.is_empty() {
        return Ok(requested);
    }
    let registry = Registry::load(dirs);
    let mut resolved = Vec::new();
    for name in &requested {
        resolved.push(registry.find(name, dirs)?);
    }
    for (file, bad) in &registry.unreadable {
        crate::logger::warn(format!("CDI spec {}: {bad} (skipped)", file.display()));
    }
    edits::apply(spec, &resolved)?;
    Ok(requested)
}

/// Every `vendor.com/class=name` in the `cdi.k8s.io/*` annotations, once each, in
/// the order of the keys (annotations are a map) and then of the values.
fn requested_devices(spec: &Spec) -> Result<Vec<String>> {
    let mut names: Vec<String> = Vec::new();
    let annotations = spec.annotations().as_ref();
    let requests = annotations.into_iter().flatten().filter(|(k, _)| k.starts_with(REQUEST_PREFIX));
    let mut requests: Vec<_> = requests.collect();
    requests.sort();
    for (key, value) in requests {
        for name in value.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            check_qualified_name(name).map_err(|e| Error::invalid(format!("annotation {key}: {e}")))?;
            if !names.iter().any(|n| n == name) {
                names.push(name.to_string());
            }
        }
    }
    Ok(names)
}

/// `vendor.com/class=name`, its kind and its device name each checked.
fn check_qualified_name(qualified: &str) -> std::result::Result<(), String> {
    let invalid = |why: String| format!("CDI device name {qualified:?} is invalid: {why}");
    let (kind, name) =
        qualified.split_once('=').ok_or_else(|| invalid("not of the form vendor.com/class=name".into()))?;
    spec_file::check_kind(kind).map_err(invalid)?;
    spec_file::check_name(name).map_err(invalid)
}

/// One requested device, found: its spec file (whose spec-level edits come with it)
/// and its index there.
pub struct Resolved<'r> {
    pub name: &'r str,
    pub spec: &'r SpecFile,
    pub file: &'r Path,
    pub device: usize,
}

/// The spec files of the CDI directories, read once per `create`.
struct Registry {
    /// By fully qualified name: where the device is defined (file index, device
    /// index), or the files that define it twice in one directory.
    devices: BTreeMap<String, Definition>,
    files: Vec<(PathBuf, SpecFile)>,
    /// Files that could not be read or are not valid CDI, with why.
    unreadable: Vec<(PathBuf, String)>,
}

enum Definition {
    At(usize, usize),
    Conflict(PathBuf, PathBuf),
}

impl Registry {
    fn load(dirs: &[PathBuf]) -> Registry {
        let mut registry = Registry { devices: BTreeMap::new(), files: Vec::new(), unreadable: Vec::new() };
        for dir in dirs {
            // A missing directory is normal: most hosts have only one of them.
            let Ok(entries) = std::fs::read_dir(dir) else { continue };
            let mut paths: Vec<PathBuf> = entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "json" || e == "yaml" || e == "yml"))
                .collect();
            paths.sort();
            let mut in_this_dir: BTreeMap<String, Definition> = BTreeMap::new();
            for path in paths {
                let spec = match SpecFile::read(&path) {
                    Ok(spec) => spec,
                    Err(why) => {
                        registry.unreadable.push((path, why));
                        continue;
                    }
                };
                let file_index = registry.files.len();
                for (device_index, device) in spec.devices.iter().enumerate() {
                    let name = format!("{}={}", spec.kind, device.name);
                    let definition = match in_this_dir.get(&name) {
                        Some(Definition::At(other, _)) => {
                            Definition::Conflict(registry.files[*other].0.clone(), path.clone())
                        }
                        Some(Definition::Conflict(a, b)) => Definition::Conflict(a.clone(), b.clone()),
                        None => Definition::At(file_index, device_index),
                    };
                    in_this_dir.insert(name, definition);
                }
                registry.files.push((path, spec));
            }
            // The CDI spec: a later directory overrides an earlier one.
            registry.devices.extend(in_this_dir);
        }
        registry
    }

    fn find<'r>(&'r self, name: &'r str, dirs: &[PathBuf]) -> Result<Resolved<'r>> {
        match self.devices.get(name) {
            Some(Definition::At(file, device)) => {
                let (path, spec) = &self.files[*file];
                Ok(Resolved { name, spec, file: path, device: *device })
            }
            Some(Definition::Conflict(a, b)) => Err(Error::invalid(format!(
                "CDI device {name} is defined twice in one directory: {} and {}",
                a.display(),
                b.display()
            ))),
            None => {
                let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                let mut message = format!("unknown CDI device {name} (searched {})", searched.join(", "));
                for (file, why) in &self.unreadable {
                    message.push_str(&format!("; {} is not a valid CDI spec: {why}", file.display()));
                }
                Err(Error::invalid(message))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec_with(annotations: &[(&str, &str)]) -> Spec {
        let map = annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let mut spec = Spec::default();
        spec.set_annotations(Some(map));
        spec
    }

    #[test]
    fn requests_come_from_cdi_annotations_only_once_each() {
        let spec = spec_with(&[
            ("cdi.k8s.io/b", "vendor.com/gpu=1"),
            ("cdi.k8s.io/a", "vendor.com/gpu=0, vendor.com/gpu=1"),
            ("other.io/x", "not=a-request"),
        ]);
        assert_eq!(requested_devices(&spec).unwrap(), ["vendor.com/gpu=0", "vendor.com/gpu=1"]);
    }

    #[test]
    fn an_invalid_name_is_refused_with_its_annotation() {
        for bad in ["gpu0", "vendor.com/gpu", "vendor/gpu=-x", "vendor.com/gpu/x=0"] {
            let err = requested_devices(&spec_with(&[("cdi.k8s.io/req", bad)])).unwrap_err().to_string();
            assert!(err.contains("cdi.k8s.io/req") && err.contains(bad), "{err}");
        }
    }
}
