//! `users`: the users of the JSON API and the web app — creating one (its token printed once, and a
//! password for the web app: typed without echo, or a one-time initial one printed once and changed at
//! first login), setting a password, listing, disabling (see [`crate::users`], [`crate::web::accounts`]).

use super::args::StoreArgs;
use crate::store::Store;
use crate::users::{UserRole, UserView};
use crate::web::password::initial_password;
use anyhow::Context;
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
        /// Also give a web password, typed twice without echo.
        #[arg(long, conflicts_with = "initial_password")]
        password_prompt: bool,
        /// Also give a random one-time web password, printed on the second line of stdout; the first
        /// login must change it.
        #[arg(long)]
        initial_password: bool,
    },
    /// Set a user's web password (typed twice without echo), or with --initial-password a new one-time
    /// one (printed; for a forgotten password).
    Password {
        /// The user's name.
        name: String,
        /// A random one-time password instead of a typed one.
        #[arg(long)]
        initial_password: bool,
    },
    /// List users (never tokens).
    List,
    /// Disable a user: its token is refused from now on.
    Disable {
        /// The user's name.
        name: String,
    },
}

/// A new password typed twice on the terminal without echo.
fn prompt_new_password(name: &str) -> anyhow::Result<String> {
    let first = rpassword::prompt_password(format!("web password for {name}: "))
        .context("reading the password from the terminal")?;
    crate::web::password::check_policy(&first)?;
    let again = rpassword::prompt_password("again: ").context("reading the password again")?;
    anyhow::ensure!(first == again, "the two passwords differ");
    Ok(first)
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
            password_prompt,
            initial_password: one_time,
        } => {
            let role = UserRole::from_parts(&role, institution.as_deref())?;
            if one_time {
                let password = initial_password()?;
                let token = store
                    .add_user_with_password(&name, &role, &password, true)
                    .await?;
                eprintln!(
                    "user {name} created; its token (line 1) and one-time web password (line 2, to be \
                     changed at first login) are shown only this once:"
                );
                println!("{token}\n{password}");
            } else {
                let token = if password_prompt {
                    let password = prompt_new_password(&name)?;
                    store
                        .add_user_with_password(&name, &role, &password, false)
                        .await?
                } else {
                    store.add_user(&name, &role).await?
                };
                eprintln!("user {name} created; its token is shown only this once:");
                println!("{token}");
            }
        }
        UsersCommand::Password {
            name,
            initial_password: one_time,
        } => {
            if one_time {
                let password = initial_password()?;
                store.set_password(&name, &password, true).await?;
                eprintln!("one-time web password of {name} (to be changed at first login):");
                println!("{password}");
            } else {
                let password = prompt_new_password(&name)?;
                store.set_password(&name, &password, false).await?;
                println!("web password of {name} set");
            }
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
