//! The `bedrock-link` binary: everything lives in the library; see `cli`.

fn main() -> std::process::ExitCode {
    bedrock_link::cli::run()
}
