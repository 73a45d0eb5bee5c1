//! anchor-runtime: an OCI container runtime with runc's command line.

use anchor_runtime::{cli, commands, config, logger};
use clap::Parser;

fn main() {
    let cli = cli::Cli::parse_from(cli::with_go_style_flags(std::env::args_os()));
    commands::close_stray_descriptors(cli.command.as_ref());
    if cli.version {
        let _ = commands::say(format_args!(
            "anchor-runtime version {}\ncommit: {}\nspec: {}",
            env!("CARGO_PKG_VERSION"),
            option_env!("ANCHOR_COMMIT").unwrap_or("unknown"),
            config::SPEC_VERSION
        ));
        return;
    }
    if let Err(e) = logger::init(cli.log.as_deref(), cli.log_format == cli::LogFormat::Json, cli.debug) {
        eprintln!("anchor-runtime: {e}");
        std::process::exit(1);
    }
    let Some(command) = &cli.command else {
        eprintln!("anchor-runtime: a command is required; see --help");
        std::process::exit(2);
    };
    match commands::dispatch(&cli, command) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            logger::error(e.to_string());
            // `exec` answers with the program's own status, so its own failures use
            // 255, which no program's exit status can be taken for (runc does too).
            std::process::exit(if matches!(command, cli::Command::Exec(_)) { 255 } else { 1 });
        }
    }
}
