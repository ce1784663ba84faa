//! `okta-event-cards`: the operator's command. `serve` runs the five card routes locally, through
//! the same handler the Lambda functions run.

mod linger;
mod serve;

use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "okta-event-cards",
    version,
    about = "Okta MFA event hooks in, EventBridge card events out: run the routes locally, operate a deployment",
    after_help = "Example:\n  OKTA_HOOK_SECRET='Basic b2t0YTpsb2NhbC1vbmx5' okta-event-cards serve --out published.jsonl\n\n\
                  Each subcommand has its own --help."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    Serve(serve::Args),
}

#[tokio::main]
async fn main() -> ExitCode {
    // `serve --help` lists the routes from the cards themselves.
    let matches = Cli::command()
        .mut_subcommand("serve", |serve| serve.after_help(serve::help()))
        .get_matches();
    let cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(err) => err.exit(),
    };
    let result = match cli.command {
        Command::Serve(args) => serve::run(args).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("okta-event-cards: {err}");
            ExitCode::FAILURE
        }
    }
}
