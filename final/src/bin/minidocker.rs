//! `minidocker`: the engine's command line (docker's verbs and flags).

fn main() {
    std::process::exit(minidocker::cli::main());
}
