//! `AUTH [user] <password>`, and who may run what (see `crate::auth`).
//!
//! Checked before a command is parsed or queued: a refused command
//! changes nothing and costs one reply.

use crate::auth::{Secret, Users};
use crate::resp;

/// A user a connection can be logged in as, least to most trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum User {
    /// Data commands.
    Default,
    /// Data commands and the node-to-node commands.
    Cluster,
    /// Everything, the operator's commands included.
    Admin,
}

impl User {
    /// The name `AUTH` takes.
    fn name(self) -> &'static str {
        match self {
            User::Default => "default",
            User::Cluster => "cluster",
            User::Admin => "admin",
        }
    }

    /// The user `name` names.
    fn named(name: &[u8]) -> Option<Self> {
        [User::Default, User::Cluster, User::Admin]
            .into_iter()
            .find(|u| u.name().as_bytes() == name)
    }

    /// Its password, if one is configured.
    fn secret(self, users: &Users) -> Option<&Secret> {
        match self {
            User::Default => users.default.as_ref(),
            User::Cluster => users.cluster.as_ref(),
            User::Admin => users.admin.as_ref(),
        }
    }
}

/// The least trusted user that may run `verb` (upper case).
pub fn needed(verb: &[u8]) -> User {
    match verb {
        b"MOVE-SCOPE-INGEST"
        | b"MOVE-SCOPE-OUTCOME"
        | b"MOVE-SCOPE-NEWS"
        | b"MOVE-SCOPE-RECHECK"
        | b"MOVE-SCOPE-EPOCH"
        | b"MOVE-SCOPE-FENCE" => User::Cluster,
        b"MOVE-SCOPE" | b"SCOPE-LIFT-QUARANTINE" => User::Admin,
        _ => User::Default,
    }
}

/// Who a connection is: the user it logged in as, else `default` when
/// `default` needs no password, else nobody.
pub fn current(logged_in: Option<User>, users: &Users) -> Option<User> {
    logged_in.or(users.default.is_none().then_some(User::Default))
}

/// Whether the connection, as `who`, may run `verb`; if not, the refusal
/// is appended to `out` (Redis's `-NOAUTH` and `-NOPERM`).
pub fn permits(who: Option<User>, verb: &[u8], out: &mut Vec<u8>) -> bool {
    if matches!(verb, b"AUTH" | b"QUIT") {
        return true;
    }
    let Some(who) = who else {
        resp::put_error(out, "NOAUTH Authentication required.");
        return false;
    };
    let need = needed(verb);
    if who >= need {
        return true;
    }
    resp::put_error(
        out,
        &format!(
            "NOPERM User {} has no permissions to run the '{}' command (it needs the {} user)",
            who.name(),
            String::from_utf8_lossy(verb).to_ascii_lowercase(),
            need.name()
        ),
    );
    false
}

/// `AUTH <password>` (as `default`) or `AUTH <user> <password>`: the user
/// now logged in, or `None` with the refusal appended to `out` (and the
/// connection's login unchanged).
pub fn auth(args: &[&[u8]], users: &Users, out: &mut Vec<u8>) -> Option<User> {
    let (name, password): (&[u8], &[u8]) = match args {
        [password] => (b"default", password),
        [name, password] => (name, password),
        _ => {
            resp::put_error(out, "ERR wrong number of arguments for 'auth' command");
            return None;
        }
    };
    let user = User::named(name);
    // Every refusal looks the same, and a password is compared (in
    // constant time) even for an unknown user, so a client learns nothing
    // of which users exist or have a password.
    let secret = user.and_then(|u| u.secret(users));
    let matches = match secret {
        Some(secret) => secret.matches(password),
        None => {
            let _ = Secret::new(b"-".to_vec()).map(|s| s.matches(password));
            false
        }
    };
    if matches {
        resp::put_simple(out, "OK");
        return user;
    }
    if user == Some(User::Default) && users.default.is_none() {
        resp::put_error(
            out,
            "ERR AUTH <password> called without any password configured for the default user",
        );
        return None;
    }
    resp::put_error(
        out,
        "WRONGPASS invalid username-password pair or user is disabled.",
    );
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn users() -> Users {
        Users {
            default: None,
            cluster: Secret::new("c-pass"),
            admin: Secret::new("a-pass"),
        }
    }

    fn text(out: &[u8]) -> String {
        String::from_utf8_lossy(out).into_owned()
    }

    #[test]
    fn each_command_needs_its_user() {
        let users = users();
        let anyone = current(None, &users);
        assert_eq!(anyone, Some(User::Default));
        for (verb, need) in [
            (&b"SET"[..], User::Default),
            (b"SCOPE-STATUS", User::Default),
            (b"MOVE-SCOPE-INGEST", User::Cluster),
            (b"MOVE-SCOPE-NEWS", User::Cluster),
            (b"MOVE-SCOPE-OUTCOME", User::Cluster),
            (b"MOVE-SCOPE-RECHECK", User::Cluster),
            (b"MOVE-SCOPE-EPOCH", User::Cluster),
            (b"MOVE-SCOPE-FENCE", User::Cluster),
            (b"MOVE-SCOPE", User::Admin),
            (b"SCOPE-LIFT-QUARANTINE", User::Admin),
        ] {
            for who in [User::Default, User::Cluster, User::Admin] {
                let mut out = Vec::new();
                assert_eq!(permits(Some(who), verb, &mut out), who >= need);
                assert_eq!(out.is_empty(), who >= need, "{}", text(&out));
                if who < need {
                    assert!(text(&out).starts_with("-NOPERM"), "{}", text(&out));
                }
            }
        }
    }

    #[test]
    fn a_default_password_closes_everything_but_auth() {
        let users = Users {
            default: Secret::new("d-pass"),
            ..users()
        };
        assert_eq!(current(None, &users), None);
        let mut out = Vec::new();
        assert!(!permits(None, b"GET", &mut out));
        assert!(text(&out).starts_with("-NOAUTH"));
        assert!(permits(None, b"AUTH", &mut Vec::new()));
        assert_eq!(
            auth(&[b"d-pass"], &users, &mut Vec::new()),
            Some(User::Default)
        );
    }

    #[test]
    fn auth_takes_the_right_password_only() {
        let users = users();
        let mut out = Vec::new();
        assert_eq!(
            auth(&[b"admin", b"a-pass"], &users, &mut out),
            Some(User::Admin)
        );
        assert_eq!(text(&out), "+OK\r\n");
        for bad in [
            &[&b"admin"[..], b"c-pass"][..],
            &[b"admin", b"a-pas"],
            &[b"admin", b"a-passx"],
            &[b"cluster", b""],
            &[b"root", b"a-pass"],
        ] {
            let mut out = Vec::new();
            assert_eq!(auth(bad, &users, &mut out), None);
            assert!(text(&out).starts_with("-WRONGPASS"), "{}", text(&out));
        }
        let mut out = Vec::new();
        assert_eq!(auth(&[b"x"], &users, &mut out), None);
        assert!(text(&out).contains("without any password configured"));
        let unset = Users::default();
        assert_eq!(auth(&[b"admin", b""], &unset, &mut Vec::new()), None);
    }
}
