//! `users`: the users of the JSON API and the web app — creating one (its token printed once, with a
//! lifetime, and a password for the web app: typed without echo, or a one-time initial one printed once
//! and changed at first login), setting a password, listing (with each token's expiry and revocation),
//! disabling (revoking its token), renewing a token (see [`crate::users`], [`crate::web::accounts`]).

use super::args::StoreArgs;
use crate::store::Store;
use crate::store::now_ms;
use crate::users::{DEFAULT_TOKEN_DAYS, MAX_TOKEN_DAYS, User, UserRole};
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
        /// Days the token is valid.
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKEN_DAYS)))]
        valid_days: u32,
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
    /// List users (never tokens): name, role, institution, token state (valid, expired, revoked),
    /// expiry, revocation time.
    List,
    /// Disable a user: its token is revoked from now on.
    Disable {
        /// The user's name.
        name: String,
    },
    /// Issue a new token for an enabled user (the old one is refused from now on); printed once.
    Renew {
        /// The user's name.
        name: String,
        /// Days the new token is valid.
        #[arg(long, default_value_t = DEFAULT_TOKEN_DAYS, value_parser = clap::value_parser!(u32).range(1..=i64::from(MAX_TOKEN_DAYS)))]
        valid_days: u32,
    },
}

/// A time for the listing: UTC, to the minute; `-` when there is none.
fn listed_time(ms: Option<i64>) -> String {
    ms.and_then(chrono::DateTime::from_timestamp_millis)
        .map_or_else(|| "-".into(), |t| t.format("%Y-%m-%dT%H:%MZ").to_string())
}

/// One line of `users list`, tab-separated.
fn listing_line(user: &User, now: i64) -> String {
    format!(
        "{}\t{}\t{}\t{}\t{}\texpires {}\trevoked {}",
        user.name,
        user.role.workflow_role().as_str(),
        user.role
            .institution()
            .map_or_else(|| "-".into(), |c| c.to_string()),
        if user.disabled { "disabled" } else { "enabled" },
        user.token_state(now).as_str(),
        if user.expires_at_ms.is_some() {
            listed_time(user.expires_at_ms)
        } else {
            "never".into()
        },
        listed_time(user.disabled_at_ms.filter(|_| user.disabled)),
    )
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
            valid_days,
            password_prompt,
            initial_password: one_time,
        } => {
            let role = UserRole::from_parts(&role, institution.as_deref())?;
            let password = if one_time {
                Some(initial_password()?)
            } else if password_prompt {
                Some(prompt_new_password(&name)?)
            } else {
                None
            };
            if let Some(password) = &password {
                crate::web::password::check_policy(password)?;
            }
            let token = store.add_user_for(&name, &role, valid_days).await?;
            if let Some(password) = &password {
                store.set_password(name.trim(), password, one_time).await?;
            }
            if one_time {
                eprintln!(
                    "user {name} created; its token (line 1, valid {valid_days} days) and one-time web \
                     password (line 2, to be changed at first login) are shown only this once:"
                );
                println!("{token}\n{}", password.unwrap_or_default());
            } else {
                eprintln!(
                    "user {name} created; its token (valid {valid_days} days) is shown only this once:"
                );
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
            let now = now_ms();
            for user in store.users().await? {
                println!("{}", listing_line(&user, now));
            }
        }
        UsersCommand::Disable { name } => {
            store.disable_user(&name).await?;
            println!("user {name} disabled: its token is revoked");
        }
        UsersCommand::Renew { name, valid_days } => {
            let token = store.renew_token(&name, valid_days).await?;
            eprintln!(
                "user {name}: new token (valid {valid_days} days), shown only this once; the old one \
                 is refused from now on:"
            );
            println!("{token}");
        }
    }
    Ok(())
}
