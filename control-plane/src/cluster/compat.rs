//! Version compatibility between the control plane and a data plane, by Kong's rules
//! (`kong/clustering/compat/init.lua`):
//! - the Portico versions must share the major version, and the data plane's minor version
//!   must not be newer than the control plane's (an older minor is fine);
//! - every plugin the configuration uses must be present on the data plane, with the same
//!   major version and a minor version no newer than the control plane's.
//!
//! A version refusal ends the session (the data plane keeps serving what it has); a plugin
//! incompatibility keeps the session but the configuration is not sent, and the reason is
//! shown as the data plane's `sync_status`.

use std::collections::BTreeMap;

use common::convert::{PluginInfo, SyncStatus};

/// Why a data plane cannot be served.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incompatible {
    pub status: SyncStatus,
    pub reason: String,
}

/// `major.minor` of a `major.minor.patch[-pre][+build]` version.
pub fn major_minor(version: &str) -> Option<(u64, u64)> {
    let mut parts = version.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    let patch = parts.next()?;
    // Kong requires a numeric patch as well (`^(%d+)%.(%d+)%.%d+`).
    if !patch.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some((major, minor))
}

/// Kong's `check_kong_version_compatibility`.
pub fn check_version(cp_version: &str, dp_version: &str) -> Result<(), Incompatible> {
    let refuse = |reason: String| {
        Err(Incompatible {
            status: SyncStatus::KongVersionIncompatible,
            reason,
        })
    };
    let Some((cp_major, cp_minor)) = major_minor(cp_version) else {
        return refuse(format!(
            "data plane version {dp_version} is incompatible with control plane version {cp_version}"
        ));
    };
    let Some((dp_major, dp_minor)) = major_minor(dp_version) else {
        return refuse(format!(
            "data plane version {dp_version:?} is incompatible with control plane version {cp_version} ({cp_major}.x.y are accepted)"
        ));
    };
    if cp_major != dp_major {
        return refuse(format!(
            "data plane version {dp_version} is incompatible with control plane version {cp_version} ({cp_major}.x.y are accepted)"
        ));
    }
    if cp_minor < dp_minor {
        return refuse(format!(
            "data plane version {dp_version} is incompatible with older control plane version {cp_version}"
        ));
    }
    Ok(())
}

/// Kong's `check_configuration_compatibility` for plugins: `configured` maps each plugin
/// name the configuration uses to the control plane's version of it.
pub fn check_plugins(
    configured: &BTreeMap<String, String>,
    dp_plugins: &[PluginInfo],
) -> Result<(), Incompatible> {
    for (name, cp_version) in configured {
        let Some(dp) = dp_plugins.iter().find(|p| &p.name == name) else {
            return Err(Incompatible {
                status: SyncStatus::PluginSetIncompatible,
                reason: format!("configured {name} plugin {cp_version} is missing from data plane"),
            });
        };
        if let (Some((cp_major, cp_minor)), Some((dp_major, dp_minor))) =
            (major_minor(cp_version), major_minor(&dp.version))
            && (cp_major != dp_major || cp_minor < dp_minor)
        {
            return Err(Incompatible {
                status: SyncStatus::PluginVersionIncompatible,
                reason: format!(
                    "configured data plane {name} plugin version {} is different to control plane plugin version {cp_version}",
                    dp.version
                ),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn version_rules_follow_kong() {
        // (cp, dp, compatible)
        let cases = [
            ("3.4.0", "3.4.0", true),
            ("3.4.2", "3.4.0", true),
            ("3.4.0", "3.4.9", true),
            ("3.4.0", "3.3.1", true),
            ("3.4.0", "3.5.0", false),
            ("3.4.0", "2.8.0", false),
            ("3.4.0", "4.0.0", false),
            ("0.1.0", "0.1.0-beta.1", true),
            ("0.2.0", "0.1.5", true),
            ("0.1.0", "0.2.0", false),
            ("3.4.0", "3.4", false),
            ("3.4.0", "latest", false),
            ("3.4.0", "", false),
        ];
        for (cp, dp, ok) in cases {
            let result = check_version(cp, dp);
            assert_eq!(result.is_ok(), ok, "cp {cp} dp {dp}: {result:?}");
            if let Err(e) = result {
                assert_eq!(e.status, SyncStatus::KongVersionIncompatible);
                assert!(e.reason.contains("incompatible"), "{}", e.reason);
            }
        }
        let newer = check_version("3.4.0", "3.5.0").unwrap_err();
        assert_eq!(
            newer.reason,
            "data plane version 3.5.0 is incompatible with older control plane version 3.4.0"
        );
    }

    #[test]
    fn plugin_rules_follow_kong() {
        let dp = vec![
            PluginInfo {
                name: "key-auth".into(),
                version: "3.4.0".into(),
            },
            PluginInfo {
                name: "cors".into(),
                version: "3.5.0".into(),
            },
            PluginInfo {
                name: "custom".into(),
                version: "".into(),
            },
        ];
        let configured = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(a, b)| (a.to_string(), b.to_string()))
                .collect()
        };
        assert!(check_plugins(&configured(&[("key-auth", "3.4.1")]), &dp).is_ok());
        assert!(check_plugins(&configured(&[("key-auth", "3.6.0")]), &dp).is_ok());
        // Unversioned on either side: only presence is checked.
        assert!(check_plugins(&configured(&[("custom", "1.0.0")]), &dp).is_ok());
        let missing = check_plugins(&configured(&[("rate-limiting", "3.4.0")]), &dp).unwrap_err();
        assert_eq!(missing.status, SyncStatus::PluginSetIncompatible);
        assert_eq!(
            missing.reason,
            "configured rate-limiting plugin 3.4.0 is missing from data plane"
        );
        let newer = check_plugins(&configured(&[("cors", "3.4.0")]), &dp).unwrap_err();
        assert_eq!(newer.status, SyncStatus::PluginVersionIncompatible);
        let other_major = check_plugins(&configured(&[("key-auth", "4.0.0")]), &dp).unwrap_err();
        assert_eq!(other_major.status, SyncStatus::PluginVersionIncompatible);
    }
}
