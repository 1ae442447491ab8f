//! Ready-made fit configs: the files of `presets/fit/` at the repository root, embedded so that
//! `onecycle fit --preset NAME` works from anywhere. Each is a complete [`FitConfig`] in the
//! `config.toml` format, commented with its sources, for users to copy and edit.

use std::path::Path;

use anyhow::{bail, Result};

use crate::config::{parse_config, read_config, FitConfig};

/// `(name, TOML text)` of every fit preset.
pub const FIT_PRESETS: [(&str, &str); 3] = [
    (
        "imagenet",
        include_str!("../../../presets/fit/imagenet.toml"),
    ),
    (
        "resnet9-dawnbench",
        include_str!("../../../presets/fit/resnet9-dawnbench.toml"),
    ),
    (
        "speedrun",
        include_str!("../../../presets/fit/speedrun.toml"),
    ),
];

/// The fit config of preset `name_or_path`: an embedded preset by name, else a TOML file at that
/// path. The config is validated.
pub fn fit_preset(name_or_path: &str) -> Result<FitConfig> {
    let config = match FIT_PRESETS.iter().find(|(name, _)| *name == name_or_path) {
        Some((name, text)) => parse_config(text, &format!("preset {name}"))?,
        None if Path::new(name_or_path).is_file() => read_config(Path::new(name_or_path))?,
        None => bail!(
            "no preset named `{name_or_path}` and no such file; presets: {}",
            FIT_PRESETS.map(|p| p.0).join(", ")
        ),
    };
    config.validate()?;
    Ok(config)
}
