//! `ch01`: the chapter 01 daemon and its client.

use clap::Parser;

fn main() {
    let cli = api::toy::cli::Cli::parse();
    match api::toy::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("ch01: {e:#}");
            std::process::exit(1);
        }
    }
}
