//! `users`: the JSON API's users — creating one (its token printed once), listing, disabling (see
//! [`crate::users`]).

use super::args::StoreArgs;
use crate::store::Store;
use crate::users::{UserRole, UserView};
use clap::{Args, Subcommand};

/// `users` options.
#[derive(Debug, Args)]
pub struct UsersArgs {
    /// Storage.
    #[command(flatten)]
    pub store: StoreArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: UsersCommand,
}

/// `users` subcommands.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user and print its token once (only its SHA-256 is stored).
    Add {
        /// Unique user name.
        #[arg(long)]
        name: String,
        /// admin, auditor or institution.
        #[arg(long, value_parser = ["admin", "auditor", "institution"])]
        role: String,
        /// For institution users: their fixmedins_code (H/P + 11 digits).
        #[arg(long)]
        institution: Option<String>,
    },
    /// List users (never tokens).
    List,
    /// Disable a user: its token is refused from now on.
    Disable {
        /// The user's name.
        name: String,
    },
}

/// Runs a `users` subcommand.
pub async fn run(args: UsersArgs) -> anyhow::Result<()> {
    let UsersArgs { store, command } = args;
    store
        .with_store(async |store| manage(store, command).await)
        .await
}

async fn manage(store: &Store, command: UsersCommand) -> anyhow::Result<()> {
    match command {
        UsersCommand::Add {
            name,
            role,
            institution,
        } => {
            let role = UserRole::from_parts(&role, institution.as_deref())?;
            let token = store.add_user(&name, &role).await?;
            eprintln!("user {name} created; its token is shown only this once:");
            println!("{token}");
        }
        UsersCommand::List => {
            for user in store.users().await? {
                let view = UserView::from(&user);
                println!(
                    "{}\t{}\t{}\t{}",
                    view.name,
                    view.role,
                    view.fixmedins_code.as_deref().unwrap_or("-"),
                    if view.disabled { "disabled" } else { "enabled" }
                );
            }
        }
        UsersCommand::Disable { name } => {
            store.disable_user(&name).await?;
            println!("user {name} disabled");
        }
    }
    Ok(())
}
